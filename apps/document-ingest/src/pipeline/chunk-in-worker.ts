import { Worker } from 'node:worker_threads';
import type { Chunk, ChunkOptions, ParsedDocument } from '@csda/documents';
import { DocumentFailure } from './failures.ts';

const WORKER_URL = new URL('./chunk-worker.ts', import.meta.url);

/**
 * chunkDocument in a worker thread with a heap cap and a time limit: counting
 * tokens is CPU work proportional to the text (and worse on long runs without
 * spaces), and on the main thread it would stall every RPC and heartbeat of
 * the replica. Past the limits the document fails with the reason.
 */
export function chunkInWorker(doc: ParsedDocument, options: ChunkOptions, limits: { memoryMb: number; timeoutMs: number; signal: AbortSignal }): Promise<Chunk[]> {
  return new Promise((resolve, reject) => {
    limits.signal.throwIfAborted();
    const worker = new Worker(WORKER_URL, { workerData: { doc, options }, resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, stackSizeMb: 4 }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    let settled = false;
    const finish = (outcome: { chunks: Chunk[] } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal.removeEventListener('abort', onAbort);
      void worker.terminate();
      if ('chunks' in outcome) resolve(outcome.chunks);
      else reject(outcome.error);
    };
    const seconds = Math.round(limits.timeoutMs / 1000);
    const timer = setTimeout(() => finish({ error: new DocumentFailure(`chunking took longer than ${seconds} s`) }), limits.timeoutMs);
    const onAbort = () => finish({ error: limits.signal.reason });
    limits.signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: { ok: true; chunks: Chunk[] } | { ok: false; message: string }) =>
      finish(m.ok ? { chunks: m.chunks } : { error: new DocumentFailure(`chunking failed: ${m.message}`) }),
    );
    worker.on('error', (err: Error & { code?: string }) =>
      finish({ error: err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new DocumentFailure(`chunking ran out of memory (limit ${limits.memoryMb} MiB)`) : err }),
    );
    worker.on('exit', (code) => finish({ error: new Error(`the chunk worker stopped unexpectedly (exit code ${code})`) }));
  });
}
