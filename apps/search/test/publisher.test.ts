import { randomUUID } from 'node:crypto';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { describe, expect, it } from 'vitest';
import { makeVersion, unitVector } from './support/harness.ts';
import { MAX_BATCH_BYTES, splitIntoBatches, vectorBytes } from './support/publisher.ts';

const access = { ownerId: 'u', accessSeq: 1 };

describe('test publisher: splitting a version into batches', () => {
  it('keeps every batch under the limit, chunks in order, the same version shape in each', () => {
    const doc = randomUUID();
    for (const [dims, limit] of [
      [512, MAX_BATCH_BYTES],
      [1536, MAX_BATCH_BYTES],
      [512, 64 * 1024],
    ] as const) {
      const batches = splitIntoBatches(makeVersion(doc, 3, { chunks: 700, dims, passages: 3, access }), limit);
      const sizes = batches.map((b) => toBinary(IndexChunksBatchSchema, b).length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
      expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThan(limit * 0.8); // filled, not one chunk each
      expect(batches.flatMap((b) => b.chunks.map((c) => c.chunkIndex))).toEqual(Array.from({ length: 700 }, (_, i) => i));
      batches.forEach((b, i) => {
        expect(b).toMatchObject({ documentId: doc, version: 3, batchIndex: i, batchCount: batches.length, totalChunks: 700, dimensions: dims, eventId: `index:${doc}:3:${i}` });
        expect(fromBinary(IndexChunksBatchSchema, toBinary(IndexChunksBatchSchema, b)).chunks).toHaveLength(b.chunks.length);
      });
    }
  });

  it('sends an empty version as one empty batch, and refuses a chunk that alone is over the limit', () => {
    expect(splitIntoBatches(makeVersion(randomUUID(), 1, { chunks: 0, access })).map((b) => [b.batchCount, b.totalChunks, b.chunks.length])).toEqual([[1, 0, 0]]);
    expect(() => splitIntoBatches(makeVersion(randomUUID(), 1, { chunks: 1, passages: 50, dims: 1536, access }))).toThrow(/chunk 0 alone encodes to \d+ bytes, over 262144/);
  });

  it('encodes vectors as float32 little-endian', () => {
    const v = unitVector(7, 4);
    const bytes = vectorBytes(v);
    expect(bytes).toHaveLength(16);
    expect(new DataView(bytes.buffer).getFloat32(4, true)).toBe(v[1]);
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
  });
});
