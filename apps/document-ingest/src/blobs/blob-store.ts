import type { CheckResult } from '@csda/service-kit';

export type BlobStoreKind = 'postgres' | 's3';

/**
 * Where originals are kept. Both directions stream: `put` consumes its source
 * as it arrives, `read` yields the content in order, neither holds a whole
 * file in memory.
 */
export interface BlobStore {
  readonly kind: BlobStoreKind;
  /**
   * Stores `source` under `key`. If the source throws (the upload was refused
   * mid-stream, the caller went away) nothing stays stored and the source's
   * error is rethrown.
   */
  put(key: string, source: AsyncIterable<Uint8Array>): Promise<{ sizeBytes: number }>;
  /** The content of `key`, in order; rejects with BlobNotFoundError when there is none. */
  read(key: string, options?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** Removes `key`; no error when it is already gone. */
  delete(key: string): Promise<void>;
  /** Readiness: the store answers. */
  check(): Promise<CheckResult>;
}

export class BlobNotFoundError extends Error {
  constructor(kind: BlobStoreKind, key: string) {
    super(`blob ${key} not found in the ${kind} store`);
    this.name = 'BlobNotFoundError';
  }
}

/** Re-cuts a byte stream into pieces of exactly `size` bytes (the last one shorter). */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of source) {
    let rest = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (rest.length > 0) {
      const take = Math.min(size - length, rest.length);
      parts.push(rest.subarray(0, take));
      length += take;
      rest = rest.subarray(take);
      if (length === size) {
        yield Buffer.concat(parts, length);
        parts = [];
        length = 0;
      }
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}
