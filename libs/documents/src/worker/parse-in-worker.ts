import { Worker } from 'node:worker_threads';
import { DocumentParseError } from '../errors.ts';
import { DOCUMENT_FORMATS, type DocumentFormat, type ParseLimits, type ParseProgress, type ParsedDocument } from '../types.ts';
import type { WorkerMessage, WorkerRequest } from './protocol.ts';

export interface ParseInWorkerOptions {
  /** The format `detectFormat` found. */
  format: DocumentFormat;
  limits?: Partial<ParseLimits>;
  /** The worker's memory: V8 heap (`resourceLimits`) plus ArrayBuffers, which V8's limit does not count. Default 512. */
  memoryLimitMb?: number;
  /** Wall-clock limit for the whole parse, worker start included. Default 60,000. */
  timeoutMs?: number;
  /** How often the worker's memory is sampled. Default 100. */
  memoryCheckMs?: number;
  /** PDF: called after each page. */
  onProgress?: (progress: ParseProgress) => void;
  /** Aborting stops the worker; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : String(Math.round(ms / 100) / 10);
}

const WORKER_URL = new URL('./parse-worker.ts', import.meta.url);

/**
 * Parses a document in a fresh worker thread so a hostile file cannot take the
 * caller down: the worker's V8 heap is capped with `resourceLimits`, its
 * ArrayBuffer memory (pdf.js and JSZip allocate outside the heap) is sampled
 * and the worker stopped past the same limit, and a wall-clock timeout
 * terminates it. `input` is the file's bytes (copied; the caller's buffer stays
 * usable) or a path the worker reads itself (CSV is streamed from it).
 *
 * Rejects with `DocumentParseError`: the parser's reasons, or `out_of_memory`
 * ("parsing ran out of memory (limit 512 MiB)"), `timeout` ("parsing took
 * longer than 60 s"), `crashed` (the worker died otherwise; retryable).
 */
export function parseInWorker(input: Uint8Array | string, options: ParseInWorkerOptions): Promise<ParsedDocument> {
  const { format, memoryLimitMb = 512, timeoutMs = 60_000, memoryCheckMs = 100 } = options;
  if (!DOCUMENT_FORMATS.includes(format)) return Promise.reject(new RangeError(`format must be one of ${DOCUMENT_FORMATS.join(', ')} (got ${String(format)})`));
  const request: WorkerRequest = { format, limits: options.limits ?? {} };
  const transfer: ArrayBuffer[] = [];
  if (typeof input === 'string') request.path = input;
  else {
    const copy = new Uint8Array(input.byteLength);
    copy.set(input);
    request.bytes = copy;
    transfer.push(copy.buffer);
  }
  return new Promise<ParsedDocument>((resolve, reject) => {
    options.signal?.throwIfAborted();
    const worker = new Worker(WORKER_URL, {
      workerData: request,
      transferList: transfer,
      resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, memoryLimitMb / 8)), stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    // pdf.js and mammoth print warnings on hostile files; they are not ours to log
    worker.stdout.resume();
    worker.stderr.resume();
    let settled = false;
    const finish = (outcome: { document: ParsedDocument } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(sampler);
      options.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      if ('document' in outcome) resolve(outcome.document);
      else reject(outcome.error);
    };
    const fail = (kind: DocumentParseError['kind'], message: string, cause?: unknown): void =>
      finish({ error: new DocumentParseError(kind, format, message, { cause }) });
    const outOfMemory = `parsing ran out of memory (limit ${memoryLimitMb} MiB)`;
    const timer = setTimeout(() => fail('timeout', `parsing took longer than ${seconds(timeoutMs)} s`), timeoutMs);
    const sampler = setInterval(() => {
      worker
        .getHeapStatistics()
        .then((h) => {
          if (h.used_heap_size + h.external_memory > memoryLimitMb * 1024 * 1024) fail('out_of_memory', outOfMemory);
        })
        .catch(() => undefined); // the worker is gone; 'exit' says why
    }, memoryCheckMs);
    const onAbort = (): void => finish({ error: options.signal?.reason });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.progress);
      else if (message.type === 'result') finish({ document: message.document });
      else fail(message.kind, message.message);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') fail('out_of_memory', outOfMemory, err);
      else fail('crashed', `parsing failed: ${err.message}`, err);
    });
    worker.on('exit', (code) => fail('crashed', `the parse worker stopped unexpectedly (exit code ${code})`));
  });
}
