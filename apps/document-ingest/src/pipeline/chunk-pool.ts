import { Worker } from 'node:worker_threads';
import type { Chunk, ChunkOptions, ParsedDocument } from '@csda/documents';
import { DocumentFailure } from './failures.ts';

const WORKER_URL = new URL('./chunk-worker.ts', import.meta.url);

export interface ChunkPoolOptions {
  /** Workers kept (one per concurrently running stage is enough). */
  readonly size: number;
  readonly memoryMb: number;
  readonly timeoutMs: number;
}

interface Slot {
  readonly worker: Worker;
}

/**
 * chunkDocument off the main thread: counting tokens is CPU work proportional
 * to the text (~0.5 s per MiB without spaces, less for prose), which on the main
 * thread would stall every RPC and heartbeat of the replica. Workers are kept
 * between documents (the tokenizer takes a second to load) and capped in
 * heap; one that passes the time limit or runs out of memory is terminated,
 * the document fails with the reason, and a fresh worker takes its place.
 */
export function createChunkPool(options: ChunkPoolOptions) {
  const idle: Slot[] = [];
  const all = new Set<Slot>();
  const waiting: ((slot: Slot) => void)[] = [];
  let live = 0;
  let nextId = 0;
  let closed = false;

  const spawn = (): Slot => {
    live += 1;
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, stackSizeMb: 4 }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    worker.unref();
    const slot: Slot = { worker };
    all.add(slot);
    // A worker that dies while idle leaves the pool (its 'error' would otherwise be unhandled).
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      all.delete(slot);
      const at = idle.indexOf(slot);
      if (at !== -1) {
        idle.splice(at, 1);
        live -= 1;
      }
    });
    return slot;
  };
  const acquire = (): Promise<Slot> => {
    const slot = idle.pop();
    if (slot) return Promise.resolve(slot);
    if (live < options.size) return Promise.resolve(spawn());
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (slot: Slot, healthy: boolean) => {
    if (!healthy) {
      live -= 1;
      void slot.worker.terminate();
      if (closed) return;
      const next = waiting.shift();
      if (next) next(spawn());
      return;
    }
    const next = waiting.shift();
    if (next) next(slot);
    else idle.push(slot);
  };

  return {
    async chunk(doc: ParsedDocument, chunkOptions: ChunkOptions, signal: AbortSignal): Promise<Chunk[]> {
      signal.throwIfAborted();
      if (closed) throw new Error('the chunk pool is closed');
      const slot = await acquire();
      const id = (nextId += 1);
      return new Promise<Chunk[]>((resolve, reject) => {
        let settled = false;
        const finish = (healthy: boolean, outcome: { chunks: Chunk[] } | { error: unknown }) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          slot.worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          slot.worker.unref();
          release(slot, healthy);
          if ('chunks' in outcome) resolve(outcome.chunks);
          else reject(outcome.error);
        };
        const onMessage = (m: { id: number; ok: true; chunks: Chunk[] } | { id: number; ok: false; message: string }) => {
          if (m.id === id) finish(true, m.ok ? { chunks: m.chunks } : { error: new DocumentFailure(`chunking failed: ${m.message}`) });
        };
        const onError = (err: Error & { code?: string }) =>
          finish(false, { error: err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new DocumentFailure(`chunking ran out of memory (limit ${options.memoryMb} MiB)`) : err });
        const onExit = (code: number) => finish(false, { error: new Error(`the chunk worker stopped unexpectedly (exit code ${code})`) });
        const onAbort = () => finish(false, { error: signal.reason });
        const timer = setTimeout(() => finish(false, { error: new DocumentFailure(`chunking took longer than ${Number((options.timeoutMs / 1000).toFixed(1))} s`) }), options.timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });
        slot.worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        slot.worker.ref();
        slot.worker.postMessage({ id, doc, options: chunkOptions });
      });
    },
    /** Starts every worker and loads its tokenizer now, so the first documents do not wait for it. */
    async warm(): Promise<void> {
      const tiny: ParsedDocument = { format: 'txt', blocks: [{ type: 'paragraph', text: 'warm up' }], warnings: [] };
      const never = new AbortController().signal;
      await Promise.all(Array.from({ length: options.size }, () => this.chunk(tiny, { documentId: '00000000-0000-4000-8000-000000000000', version: 1 }, never)));
    },
    /** Stops every worker, busy ones too (their calls reject), so nothing keeps the process alive. */
    async close(): Promise<void> {
      closed = true;
      idle.splice(0);
      await Promise.all([...all].map((s) => s.worker.terminate()));
    },
  };
}

export type ChunkPool = ReturnType<typeof createChunkPool>;
