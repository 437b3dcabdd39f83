// A stand-in for the model worker (src/local/worker.ts) that speaks the same
// protocol, for pool tests: deterministic vectors from the text, and inputs
// that make it misbehave the ways a real worker can.
//   "crash"      process.exit(3) inside the worker        "throw"   an uncaught exception
//   "hang"       a synchronous loop that never ends       "fail"    an error answer for the batch
//   "busy:<ms>"  a synchronous loop of <ms> ms (blocks this thread, not the caller's)
// workerData: { dims, loadMs?, failLoad?, crashOnLoad? }
import { parentPort, workerData } from 'node:worker_threads';
import { vectorOf } from './fake-vectors.ts';

interface Data {
  dims: number;
  loadMs?: number;
  failLoad?: string;
  crashOnLoad?: boolean;
}
const data = workerData as Data;
const port = parentPort!;

function spin(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // burn this worker's thread
  }
}

if (data.loadMs) await new Promise((resolve) => setTimeout(resolve, data.loadMs));
if (data.crashOnLoad) process.exit(7);
if (data.failLoad) {
  port.postMessage({ type: 'fatal', message: data.failLoad });
  process.exit(1);
}

port.on('message', (request: { id: number; texts: string[] }) => {
  const out = new Float32Array(request.texts.length * data.dims);
  for (const [row, text] of request.texts.entries()) {
    if (text === 'crash') process.exit(3);
    if (text === 'throw') throw new Error('worker blew up');
    if (text === 'hang') spin(Number.POSITIVE_INFINITY);
    if (text === 'fail') {
      port.postMessage({ type: 'error', id: request.id, message: 'bad batch' });
      return;
    }
    if (text.startsWith('busy:')) spin(Number(text.slice(5)));
    out.set(vectorOf(text, data.dims), row * data.dims);
  }
  port.postMessage({ type: 'result', id: request.id, vectors: out }, [out.buffer]);
});
port.postMessage({ type: 'ready' });
