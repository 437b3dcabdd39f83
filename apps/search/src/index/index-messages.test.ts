import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { DocumentAccessChangedSchema, DocumentAccessSchema, DocumentDeletedSchema, IndexChunkSchema, IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { PermanentMessageError } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { parseAccessChanged, parseDocumentDeleted, parseIndexBatch } from './index-messages.ts';

const DOC = '0B7C1C52-8E2F-4E4B-9A52-0F5C1A1D2E3F';
const vec = (values: number[]) => {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(out.buffer).setFloat32(i * 4, v, true));
  return out;
};
const access = create(DocumentAccessSchema, { ownerId: 'user-1', isPublic: false, sharedRoles: ['A', 'B', 'A'], tags: ['t'], title: 'T', accessSeq: 4n });
const batch = (edit: Omit<MessageInitShape<typeof IndexChunksBatchSchema>, '$typeName'> = {}) =>
  toBinary(
    IndexChunksBatchSchema,
    create(IndexChunksBatchSchema, {
      eventId: 'e',
      documentId: DOC,
      version: 2,
      batchIndex: 1,
      batchCount: 3,
      totalChunks: 10,
      model: 'local:x',
      dimensions: 3,
      access,
      chunks: [
        create(IndexChunkSchema, { chunkId: '11111111-1111-4111-8111-111111111111', chunkIndex: 4, content: 'hello', headingPath: ['H1'], pageStart: 2, pageEnd: 3, passageVectors: [vec([0.5, -0.25, 1e-7]), vec([0, 0, 1])] }),
        create(IndexChunkSchema, { chunkId: '22222222-2222-4222-8222-222222222222', chunkIndex: 5, content: 'world', passageVectors: [vec([1, 0, 0])] }),
      ],
      ...edit,
    }),
  );
const problem = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PermanentMessageError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('IndexChunksBatch checks', () => {
  it('accepts a valid batch: lowercase ids, unique roles, pages 0 → null, exact float32 literals', () => {
    const b = parseIndexBatch(batch());
    expect(b).toMatchObject({ documentId: DOC.toLowerCase(), version: 2, batchIndex: 1, batchCount: 3, totalChunks: 10, model: 'local:x', dims: 3 });
    expect(b.access).toEqual({ ownerId: 'user-1', isPublic: false, sharedRoles: ['A', 'B'], tags: ['t'], title: 'T', accessSeq: 4n });
    expect(b.chunks[0]).toMatchObject({ chunkIndex: 4, content: 'hello', headingPath: ['H1'], pageStart: 2, pageEnd: 3 });
    expect(b.chunks[1]).toMatchObject({ pageStart: null, pageEnd: null, headingPath: [] });
    const parsed = JSON.parse(b.chunks[0]!.passages[0]!) as number[];
    expect(Float32Array.from(parsed)).toEqual(Float32Array.from([0.5, -0.25, 1e-7]));
    expect(b.chunks[0]!.passages).toHaveLength(2);
  });

  it('names the field of every refusal', () => {
    expect(problem(() => parseIndexBatch(new Uint8Array([0xff, 0xff])))).toBe('undecodable csda.search.v1.IndexChunksBatch');
    expect(problem(() => parseIndexBatch(batch({ documentId: 'x' })))).toBe('document_id: not a UUID ("x")');
    expect(problem(() => parseIndexBatch(batch({ version: 0 })))).toBe('version: 0 is outside 1..2147483646');
    expect(problem(() => parseIndexBatch(batch({ batchIndex: 3 })))).toBe('batch_index: 3 is outside 0..2');
    expect(problem(() => parseIndexBatch(batch({ batchCount: 0 })))).toBe('batch_count: 0 is outside 1..10000000');
    expect(problem(() => parseIndexBatch(batch({ totalChunks: 1 })))).toBe('total_chunks: 1 is outside 2..10000000');
    expect(problem(() => parseIndexBatch(batch({ dimensions: 4 })))).toBe('chunks[0].passage_vectors[0]: 12 bytes, expected 16 (4 float32)');
    expect(problem(() => parseIndexBatch(batch({ dimensions: 0 })))).toBe('dimensions: 0 is outside 1..16000');
    expect(problem(() => parseIndexBatch(batch({ model: '' })))).toBe('model: empty');
    expect(problem(() => parseIndexBatch(batch({ access: undefined })))).toBe('access: missing');
    expect(problem(() => parseIndexBatch(batch({ access: { ...access, ownerId: '' } })))).toBe('access.owner_id: empty');
    expect(problem(() => parseIndexBatch(batch({ access: { ...access, accessSeq: -1n } })))).toBe('access.access_seq: -1 is negative');
    expect(problem(() => parseIndexBatch(batch({ access: { ...access, sharedRoles: ['ok', ''] } })))).toBe('access.shared_roles[1]: empty');
    expect(problem(() => parseIndexBatch(batch({ access: { ...access, tags: ['x'.repeat(201)] } })))).toBe('access.tags[0]: longer than 200 characters');
    expect(problem(() => parseIndexBatch(batch({ access: { ...access, title: 'a\u0000b' } })))).toBe('access.title: contains a NUL character');
  });

  it('refuses chunks the index cannot hold', () => {
    const chunk = (c: Record<string, unknown>) => batch({ chunks: [create(IndexChunkSchema, { chunkId: '11111111-1111-4111-8111-111111111111', chunkIndex: 0, content: 'x', passageVectors: [vec([1, 0, 0])], ...c })] });
    expect(problem(() => parseIndexBatch(chunk({ chunkId: 'nope' })))).toBe('chunks[0].chunk_id: not a UUID ("nope")');
    expect(problem(() => parseIndexBatch(chunk({ chunkIndex: 10 })))).toBe('chunks[0].chunk_index: 10 is outside 0..9');
    expect(problem(() => parseIndexBatch(chunk({ passageVectors: [] })))).toBe('chunks[0].passage_vectors: empty (at least one passage vector per chunk)');
    expect(problem(() => parseIndexBatch(chunk({ passageVectors: [vec([0, 0, 0])] })))).toBe('chunks[0].passage_vectors[0]: all zeros (a cosine distance to it is undefined)');
    expect(problem(() => parseIndexBatch(chunk({ passageVectors: [vec([1, Number.POSITIVE_INFINITY, 0])] })))).toBe('chunks[0].passage_vectors[0]: value 1 is Infinity (finite values up to ±65504 only)');
    expect(problem(() => parseIndexBatch(chunk({ passageVectors: [vec([1, 70_000, 0])] })))).toBe('chunks[0].passage_vectors[0]: value 1 is 70000 (finite values up to ±65504 only)');
    expect(problem(() => parseIndexBatch(chunk({ pageStart: 5, pageEnd: 4 })))).toBe('chunks[0].page_end: 4 is before page_start 5');
    expect(problem(() => parseIndexBatch(chunk({ content: 'a\u0000' })))).toBe('chunks[0].content: contains a NUL character');
    expect(problem(() => parseIndexBatch(chunk({ headingPath: ['ok', 'b\u0000'] })))).toBe('chunks[0].heading_path[1]: contains a NUL character');
    const twice = create(IndexChunkSchema, { chunkId: '11111111-1111-4111-8111-111111111111', chunkIndex: 0, content: 'x', passageVectors: [vec([1, 0, 0])] });
    expect(problem(() => parseIndexBatch(batch({ chunks: [twice, { ...twice, chunkIndex: 1 }] })))).toBe('chunks[1].chunk_id: 11111111-1111-4111-8111-111111111111 appears twice in the batch');
    expect(problem(() => parseIndexBatch(batch({ chunks: [twice, { ...twice, chunkId: '33333333-3333-4333-8333-333333333333' }] })))).toBe('chunks[1].chunk_index: 0 appears twice in the batch');
  });
});

describe('document events checks', () => {
  it('DocumentDeleted: version 0 is the whole document', () => {
    expect(parseDocumentDeleted(toBinary(DocumentDeletedSchema, create(DocumentDeletedSchema, { documentId: DOC, version: 0 })))).toEqual({ documentId: DOC.toLowerCase(), version: null });
    expect(parseDocumentDeleted(toBinary(DocumentDeletedSchema, create(DocumentDeletedSchema, { documentId: DOC, version: 7 })))).toEqual({ documentId: DOC.toLowerCase(), version: 7 });
    expect(problem(() => parseDocumentDeleted(toBinary(DocumentDeletedSchema, create(DocumentDeletedSchema, { documentId: DOC, version: -1 }))))).toBe('version: -1 is outside 1..2147483646');
  });

  it('DocumentAccessChanged needs an access with an owner', () => {
    const change = (a?: typeof access) => toBinary(DocumentAccessChangedSchema, create(DocumentAccessChangedSchema, { documentId: DOC, access: a }));
    expect(parseAccessChanged(change(access)).access.accessSeq).toBe(4n);
    expect(problem(() => parseAccessChanged(change()))).toBe('access: missing');
  });
});
