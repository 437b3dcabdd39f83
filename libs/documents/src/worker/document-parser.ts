import type { Worker } from 'node:worker_threads';
import type { ParsedDocument } from '../types.ts';
import type { WorkerMessage } from './protocol.ts';
import { requestFor, startWorker, supervise, type ParseRequestOptions, type WorkerLimits } from './supervise.ts';

export interface DocumentParserOptions extends WorkerLimits {
  /** Workers started ahead (each loads only its request's parser). Default 1. */
  spares?: number;
}

export interface DocumentParser {
  /** Like `parseInWorker`, in a worker started ahead of time (a new one is started for the next call). */
  parse(input: Uint8Array | string, options: ParseRequestOptions): Promise<ParsedDocument>;
  /** Stops the spare workers; parses in flight finish or fail on their own. */
  close(): Promise<void>;
}

interface Spare {
  worker: Worker;
  ready: Promise<boolean>;
}

/**
 * A parser that keeps `spares` parse workers started, so a parse does not
 * wait for a worker's start-up. A spare loads no parser while it waits: the
 * request's own is imported when it comes (loading all six cost ~0.3 s of
 * CPU per document, paid by every small file). Isolation is the same as
 * `parseInWorker`: one worker per document, never reused, with the same
 * memory limit, sampler and timeout. Create one per process and close it on
 * shutdown.
 */
export function createDocumentParser(options: DocumentParserOptions = {}): DocumentParser {
  const spares: Spare[] = [];
  const wanted = options.spares ?? 1;
  let closed = false;

  const startSpare = (): void => {
    const worker = startWorker(options);
    const ready = new Promise<boolean>((resolve) => {
      worker.once('message', (m: WorkerMessage) => resolve(m.type === 'ready'));
      worker.once('exit', () => resolve(false));
    });
    const spare = { worker, ready };
    spares.push(spare);
    // a spare that dies while idle (it should not) is replaced on the next parse
    void ready.then((ok) => {
      const at = spares.indexOf(spare);
      if (!ok && at >= 0) spares.splice(at, 1);
    });
    worker.unref();
  };
  const refill = (): void => {
    while (!closed && spares.length < wanted) startSpare();
  };
  refill();

  return {
    async parse(input, parseOptions) {
      if (closed) throw new Error('the document parser is closed');
      const request = requestFor(input, parseOptions);
      parseOptions.signal?.throwIfAborted();
      let worker: Worker | undefined;
      while (spares.length > 0 && !worker) {
        const spare = spares.shift() as Spare;
        if (await spare.ready) worker = spare.worker;
      }
      refill();
      if (!worker) return supervise(startWorker(options, request), parseOptions, options);
      worker.ref();
      const result = supervise(worker, parseOptions, options);
      worker.postMessage(request, request.bytes ? [request.bytes.buffer as ArrayBuffer] : []);
      return result;
    },
    async close() {
      closed = true;
      await Promise.all(spares.splice(0).map((s) => s.worker.terminate()));
    },
  };
}
