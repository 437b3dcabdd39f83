// The version's chunks as IndexChunksBatch messages for search
// (proto/csda/search/v1/index.proto): chunks in order, each message at most
// 256 KiB encoded. Planned from the exact encoded size of every chunk first,
// so batch_count is known before any batch is built and no more than one
// batch's chunks are in memory at a time.
import { create, toBinary } from '@bufbuild/protobuf';
import { IndexChunkSchema, IndexChunksBatchSchema, type IndexChunk, type IndexChunksBatch } from '@csda/proto/csda/search/v1/index_pb.js';
import type { AccessFacts } from '../documents/document.types.ts';
import { accessMessage } from './messages.ts';

/** Largest encoded IndexChunksBatch (NATS refuses payloads over 1 MiB; search expects ≤ 256 KiB). */
export const MAX_BATCH_BYTES = 256 * 1024;

export interface StoredChunk {
  readonly id: string;
  readonly chunkIndex: number;
  readonly content: string;
  readonly headingPath: readonly string[];
  readonly pageStart: number | null;
  readonly pageEnd: number | null;
  /** float32 little-endian, `passages` × dimensions. */
  readonly vectors: Uint8Array;
  readonly passages: number;
}

export interface VersionHeader {
  readonly documentId: string;
  readonly version: number;
  readonly totalChunks: number;
  readonly model: string;
  readonly dimensions: number;
  readonly access: AccessFacts;
}

/** A chunk as search receives it: one bytes value per passage vector. */
export function indexChunk(c: StoredChunk, dimensions: number): IndexChunk {
  const width = dimensions * 4;
  if (c.vectors.byteLength !== c.passages * width) throw new RangeError(`chunk ${c.chunkIndex}: ${c.vectors.byteLength} vector bytes for ${c.passages} passages of ${dimensions} dimensions`);
  return create(IndexChunkSchema, {
    chunkId: c.id,
    chunkIndex: c.chunkIndex,
    content: c.content,
    headingPath: [...c.headingPath],
    pageStart: c.pageStart ?? 0,
    pageEnd: c.pageEnd ?? 0,
    passageVectors: Array.from({ length: c.passages }, (_, i) => c.vectors.subarray(i * width, (i + 1) * width)),
  });
}

const varintSize = (n: number) => (n < 2 ** 7 ? 1 : n < 2 ** 14 ? 2 : n < 2 ** 21 ? 3 : n < 2 ** 28 ? 4 : 5);

/** Bytes `chunk` adds to a batch: field tag (1 byte, field 10) + length varint + the encoded chunk. */
export function chunkFieldBytes(chunk: IndexChunk): number {
  const length = toBinary(IndexChunkSchema, chunk).length;
  return 1 + varintSize(length) + length;
}

/** A batch's bytes without chunks, with the widest batch numbers it can have and slack for the timestamp. */
export function headerBytes(h: VersionHeader): number {
  return toBinary(IndexChunksBatchSchema, batchMessage(h, h.totalChunks, h.totalChunks + 1, [])).length + 16;
}

/**
 * Groups chunks (their field sizes, in chunk order) into batches of at most
 * `maxBytes` with the header: returns each batch's [first, end) chunk positions.
 * A chunk too big for a batch on its own is a RangeError naming it.
 */
export function planBatches(fieldSizes: readonly number[], header: number, maxBytes = MAX_BATCH_BYTES): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let size = header;
  fieldSizes.forEach((bytes, i) => {
    if (header + bytes > maxBytes) throw new RangeError(`chunk ${i} encodes to ${header + bytes} bytes with its batch header, over the ${maxBytes} bytes a batch may have`);
    if (size + bytes > maxBytes && i > start) {
      ranges.push([start, i]);
      start = i;
      size = header;
    }
    size += bytes;
  });
  ranges.push([start, fieldSizes.length]);
  return ranges;
}

/** Batch `batchIndex` of `batchCount` (Nats-Msg-Id `index:<document>:<version>:<batch>`). */
export function batchMessage(h: VersionHeader, batchIndex: number, batchCount: number, chunks: IndexChunk[]): IndexChunksBatch {
  return create(IndexChunksBatchSchema, {
    eventId: `index:${h.documentId}:${h.version}:${batchIndex}`,
    documentId: h.documentId,
    version: h.version,
    batchIndex,
    batchCount,
    totalChunks: h.totalChunks,
    model: h.model,
    dimensions: h.dimensions,
    access: accessMessage(h.access),
    chunks,
    occurredAtMs: BigInt(Date.now()),
  });
}
