// Entry point of a parse worker thread (see supervise.ts): runs exactly one
// parse — the request in workerData, or, for a worker started ahead, the
// first request posted after it said 'ready' — and posts progress, then the
// result or a failure. Anything that is not a ParseFailure (a library bug on
// a hostile file) is reported as `crashed` with its message. Only the
// request's own parser is imported (parse.ts), and nothing here loads
// AppError: each document gets a fresh worker, which pays for every module
// it loads.
import { parentPort, workerData } from 'node:worker_threads';
import { ParseFailure } from '../parse-failure.ts';
import { parseSource } from '../parsers/parse.ts';
import type { WorkerMessage, WorkerRequest } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs only as a worker thread');
const post = (message: WorkerMessage): void => port.postMessage(message);

async function run(request: WorkerRequest): Promise<void> {
  try {
    const source = request.bytes ? { bytes: request.bytes } : { path: request.path ?? '' };
    const document = await parseSource(source, request.format, { limits: request.limits, onProgress: (progress) => post({ type: 'progress', progress }) });
    post({ type: 'result', document });
  } catch (err) {
    if (err instanceof ParseFailure) post({ type: 'failure', kind: err.kind, message: err.message });
    else post({ type: 'failure', kind: 'crashed', message: `parsing failed: ${err instanceof Error ? err.message : String(err)}` });
  }
}

const { request } = workerData as { request?: WorkerRequest };
if (request) await run(request);
else {
  port.once('message', (next: WorkerRequest) => void run(next));
  post({ type: 'ready' });
}
