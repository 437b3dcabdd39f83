import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, batchMessage, chunkFieldBytes, headerBytes, indexChunk, planBatches, type StoredChunk, type VersionHeader } from './index-batches.ts';
import { vectorBytes } from './stages.ts';

const DOC = '0b6f7c1e-6a8e-4a53-9a57-6c8a3b0f1d20';
const header = (totalChunks: number, dimensions: number): VersionHeader => ({
  documentId: DOC,
  version: 3,
  totalChunks,
  model: 'local:use-lite-512@0.2.0',
  dimensions,
  access: { ownerId: 'user-alice', title: 'Title', tags: ['a', 'b'], isPublic: false, sharedRoles: ['LAB'], accessSeq: 7n },
});
const chunk = (i: number, dims: number, passages: number, content = `chunk ${i} `.repeat(40)): StoredChunk => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  chunkIndex: i,
  content,
  headingPath: ['Intro', `Part ${i}`],
  pageStart: i === 0 ? null : i,
  pageEnd: i === 0 ? null : i + 1,
  passages,
  vectors: vectorBytes(Array.from({ length: passages }, (_, p) => new Float32Array(dims).fill((p + 1) / 100))),
});

function build(chunks: StoredChunk[], dims: number, maxBytes = MAX_BATCH_BYTES) {
  const h = header(chunks.length, dims);
  const proto = chunks.map((c) => indexChunk(c, dims));
  const ranges = planBatches(proto.map(chunkFieldBytes), headerBytes(h), maxBytes);
  return ranges.map(([start, end], i) => batchMessage(h, i, ranges.length, proto.slice(start, end)));
}

describe('index batches', () => {
  it('cuts a version into batches of at most 256 KiB, chunks in order, with the header in each', () => {
    const chunks = Array.from({ length: 300 }, (_, i) => chunk(i, 1536, 1 + (i % 4)));
    const batches = build(chunks, 1536);
    expect(batches.length).toBeGreaterThan(10);
    const sizes = batches.map((b) => toBinary(IndexChunksBatchSchema, b).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    // Filled: each batch but the last would overflow with the next chunk.
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThan(MAX_BATCH_BYTES - 40_000);
    const decoded = batches.map((b) => fromBinary(IndexChunksBatchSchema, toBinary(IndexChunksBatchSchema, b)));
    expect(decoded.flatMap((b) => b.chunks.map((c) => c.chunkIndex))).toEqual(chunks.map((c) => c.chunkIndex));
    decoded.forEach((b, i) => {
      expect(b).toMatchObject({ eventId: `index:${DOC}:3:${i}`, documentId: DOC, version: 3, batchIndex: i, batchCount: batches.length, totalChunks: 300, dimensions: 1536 });
      expect(b.access).toMatchObject({ ownerId: 'user-alice', sharedRoles: ['LAB'], accessSeq: 7n });
    });
    const first = decoded[0]!.chunks[1]!;
    expect(first.passageVectors).toHaveLength(2);
    expect(new Float32Array(new Uint8Array(first.passageVectors[1]!).buffer)[0]).toBeCloseTo(0.02);
    expect(first).toMatchObject({ pageStart: 1, pageEnd: 2, headingPath: ['Intro', 'Part 1'] });
    expect(decoded[0]!.chunks[0]).toMatchObject({ pageStart: 0, pageEnd: 0 });
  });

  it('gives the planned size exactly: a batch planned to the byte still fits', () => {
    const chunks = Array.from({ length: 20 }, (_, i) => chunk(i, 512, 2));
    const h = header(20, 512);
    const proto = chunks.map((c) => indexChunk(c, 512));
    const fields = proto.map(chunkFieldBytes);
    const exact = headerBytes(h) + fields.slice(0, 5).reduce((a, b) => a + b, 0);
    const ranges = planBatches(fields, headerBytes(h), exact);
    expect(ranges[0]).toEqual([0, 5]);
    expect(toBinary(IndexChunksBatchSchema, batchMessage(h, 0, ranges.length, proto.slice(0, 5))).length).toBeLessThanOrEqual(exact);
  });

  it('one batch for a small version, and none too small for an empty one', () => {
    expect(build([chunk(0, 64, 1)], 64)).toHaveLength(1);
    expect(planBatches([], 100)).toEqual([[0, 0]]);
  });

  it('refuses a chunk that cannot fit a batch alone, naming it', () => {
    const huge = chunk(0, 1536, 60);
    expect(() => build([chunk(0, 1536, 1), { ...huge, chunkIndex: 1 }], 1536)).toThrow(/^chunk 1 encodes to \d+ bytes with its batch header, over the 262144 bytes/);
  });

  it('refuses vectors that do not match the passage count', () => {
    expect(() => indexChunk({ ...chunk(0, 64, 2), passages: 3 }, 64)).toThrow(RangeError);
  });
});
