// Watching one parse worker: its answer, its memory, its clock, the caller's
// abort signal, and its death. Used by parseInWorker (a fresh worker per
// call) and createDocumentParser (pre-started workers, still one per parse).
import { Worker } from 'node:worker_threads';
import { DocumentParseError } from '../errors.ts';
import { DOCUMENT_FORMATS, type DocumentFormat, type ParseLimits, type ParseProgress, type ParsedDocument } from '../types.ts';
import type { WorkerMessage, WorkerRequest } from './protocol.ts';

const WORKER_URL = new URL('./parse-worker.ts', import.meta.url);

export interface WorkerLimits {
  /** The worker's memory: V8 heap (`resourceLimits`) plus ArrayBuffers, which V8's limit does not count. Default 512. */
  memoryLimitMb?: number;
  /** How often the worker's memory is sampled. Default 100. */
  memoryCheckMs?: number;
}

export interface ParseRequestOptions {
  /** The format `detectFormat` found. */
  format: DocumentFormat;
  limits?: Partial<ParseLimits>;
  /** Wall-clock limit for the parse. Default 60,000. */
  timeoutMs?: number;
  /** PDF: called after each page. */
  onProgress?: (progress: ParseProgress) => void;
  /** Aborting stops the worker; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export function memoryLimit(limits: WorkerLimits): number {
  return limits.memoryLimitMb ?? 512;
}

/** Starts a parse worker; with a request it parses at once, without one it waits for one. */
export function startWorker(limits: WorkerLimits, request?: WorkerRequest): Worker {
  const mb = memoryLimit(limits);
  const worker = new Worker(WORKER_URL, {
    workerData: { request },
    transferList: request?.bytes ? [request.bytes.buffer as ArrayBuffer] : [],
    resourceLimits: { maxOldGenerationSizeMb: mb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, mb / 8)), stackSizeMb: 4 },
    stdout: true,
    stderr: true,
  });
  // pdf.js and mammoth print warnings on hostile files; they are not ours to log
  worker.stdout.resume();
  worker.stderr.resume();
  return worker;
}

/** The request for `input`: bytes are copied (the caller's buffer stays usable) and transferred; a path is read by the worker. */
export function requestFor(input: Uint8Array | string, options: ParseRequestOptions): WorkerRequest {
  if (!DOCUMENT_FORMATS.includes(options.format)) throw new RangeError(`format must be one of ${DOCUMENT_FORMATS.join(', ')} (got ${String(options.format)})`);
  const request: WorkerRequest = { format: options.format, limits: options.limits ?? {} };
  if (typeof input === 'string') request.path = input;
  else request.bytes = new Uint8Array(input);
  return request;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : String(Math.round(ms / 100) / 10);
}

/** Resolves with the worker's document or rejects with a DocumentParseError; the worker is terminated either way. */
export function supervise(worker: Worker, options: ParseRequestOptions, limits: WorkerLimits): Promise<ParsedDocument> {
  const { format, timeoutMs = 60_000 } = options;
  const mb = memoryLimit(limits);
  return new Promise<ParsedDocument>((resolve, reject) => {
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
    const fail = (kind: DocumentParseError['kind'], message: string, cause?: unknown): void => finish({ error: new DocumentParseError(kind, format, message, { cause }) });
    const outOfMemory = `parsing ran out of memory (limit ${mb} MiB)`;
    const timer = setTimeout(() => fail('timeout', `parsing took longer than ${seconds(timeoutMs)} s`), timeoutMs);
    const sampler = setInterval(() => {
      worker
        .getHeapStatistics()
        .then((h) => {
          if (h.used_heap_size + h.external_memory > mb * 1024 * 1024) fail('out_of_memory', outOfMemory);
        })
        .catch(() => undefined); // the worker is gone; 'exit' says why
    }, limits.memoryCheckMs ?? 100);
    const onAbort = (): void => finish({ error: options.signal?.reason });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.progress);
      else if (message.type === 'result') finish({ document: message.document });
      else if (message.type === 'failure') fail(message.kind, message.message);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') fail('out_of_memory', outOfMemory, err);
      else fail('crashed', `parsing failed: ${err.message}`, err);
    });
    worker.on('exit', (code) => fail('crashed', `the parse worker stopped unexpectedly (exit code ${code})`));
  });
}
