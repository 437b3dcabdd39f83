import { createHash } from 'node:crypto';
import { SNIFF_BYTES, detectFormat, type DocumentFormat } from '@csda/documents';
import { AppError } from '@csda/errors';
import type { BlobStore } from '../blobs/blob-store.ts';

export interface StoredUpload {
  readonly format: DocumentFormat;
  readonly sizeBytes: number;
  /** Lower-case hex. */
  readonly sha256: string;
}

const mib = (bytes: number) => (bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`);

/** The upload passed the size limit (PAYLOAD_TOO_LARGE → 413), raised while it streams. */
export class UploadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', `The document is larger than the ${mib(limitBytes)} limit`, { details: { field: 'file', limit_bytes: String(limitBytes) } });
  }
}

/**
 * Takes an upload's bytes as they arrive: the first SNIFF_BYTES decide the
 * format (with the file name: `UnsupportedDocumentError` naming what was
 * found, also for 0 bytes), then everything streams into `store` under `key`
 * with its SHA-256 and size computed on the way. Passing `maxBytes` stops the
 * stream at once (`UploadTooLargeError`) and leaves nothing stored.
 */
export async function storeUpload(source: AsyncIterable<Uint8Array>, options: { filename: string; maxBytes: number; store: BlobStore; key: string }): Promise<StoredUpload> {
  const iterator = source[Symbol.asyncIterator]();
  let total = 0;
  const count = (piece: Uint8Array) => {
    total += piece.byteLength;
    if (total > options.maxBytes) throw new UploadTooLargeError(options.maxBytes);
  };
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    count(next.value);
    head.push(next.value);
    headBytes += next.value.byteLength;
  }
  const first = Buffer.concat(head);
  const format = await detectFormat(first, options.filename);

  const hash = createHash('sha256');
  async function* all(): AsyncIterable<Uint8Array> {
    hash.update(first);
    yield first;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      count(next.value);
      hash.update(next.value);
      yield next.value;
    }
  }
  try {
    await options.store.put(options.key, all());
  } finally {
    // A refused stream is not read further; tell the source (it ends the RPC's request stream).
    if (!ended) await iterator.return?.().catch(() => undefined);
  }
  return { format, sizeBytes: total, sha256: hash.digest('hex') };
}
