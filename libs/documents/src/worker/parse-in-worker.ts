import type { ParsedDocument } from '../types.ts';
import { requestFor, startWorker, supervise, type ParseRequestOptions, type WorkerLimits } from './supervise.ts';

export interface ParseInWorkerOptions extends ParseRequestOptions, WorkerLimits {}

/**
 * Parses a document in a fresh worker thread so a hostile file cannot take the
 * caller down: the worker's V8 heap is capped with `resourceLimits`, its
 * ArrayBuffer memory (pdf.js and JSZip allocate outside the heap) is sampled
 * and the worker stopped past the same limit, and a wall-clock timeout
 * (worker start included) terminates it. `input` is the file's bytes (copied;
 * the caller's buffer stays usable) or a path the worker reads itself (CSV is
 * streamed from it). For many documents, `createDocumentParser` saves the
 * worker's start-up by keeping one started ahead.
 *
 * Rejects with `DocumentParseError`: the parser's reasons, or `out_of_memory`
 * ("parsing ran out of memory (limit 512 MiB)"), `timeout` ("parsing took
 * longer than 60 s"), `crashed` (the worker died otherwise; retryable).
 */
export async function parseInWorker(input: Uint8Array | string, options: ParseInWorkerOptions): Promise<ParsedDocument> {
  const request = requestFor(input, options);
  options.signal?.throwIfAborted();
  return supervise(startWorker(options, request), options, options);
}
