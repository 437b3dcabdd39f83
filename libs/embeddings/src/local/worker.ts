// A worker thread of the local provider: loads the model once, then embeds one batch at a time.
import { parentPort, workerData } from 'node:worker_threads';
import type { BatchRequest, WorkerMessage } from './protocol.ts';
import { loadUseModel, type UseModel } from './use-model.ts';

const port = parentPort!;
const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let model: UseModel;
try {
  model = await loadUseModel((workerData as { modelDir: string }).modelDir);
} catch (err) {
  post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

port.on('message', (request: BatchRequest) => {
  model.embed(request.texts).then(
    (vectors) => post({ type: 'result', id: request.id, vectors }, [vectors.buffer as ArrayBuffer]),
    (err: unknown) => post({ type: 'error', id: request.id, message: err instanceof Error ? err.message : String(err) }),
  );
});
post({ type: 'ready' });
