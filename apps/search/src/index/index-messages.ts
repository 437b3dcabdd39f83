import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  DocumentAccessChangedSchema,
  DocumentDeletedSchema,
  IndexChunksBatchSchema,
  type DocumentAccess,
  type IndexChunk,
} from '@csda/proto/csda/search/v1/index_pb.js';
import { PermanentMessageError } from '@csda/service-kit';
import { MAX_DIMENSIONS } from './vector-sql.ts';
import { WHOLE_DOCUMENT, type AccessChange, type AccessFacts, type ChunkBatch, type DocumentDeletion, type StagedChunk } from './index.types.ts';

// Checks every field of the handover messages before anything is written: a
// message that fails here can never succeed, so it is dead-lettered at once
// (PermanentMessageError) with the field it got wrong.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_LABEL = 200;
const MAX_LABELS = 1_000;
const MAX_TITLE = 2_000;
/** halfvec's largest finite value: a 1536-d vector is indexed as halfvec. */
const HALF_MAX = 65_504;

function fail(field: string, problem: string): never {
  throw new PermanentMessageError(`${field}: ${problem}`);
}

function decode<Desc extends DescMessage>(schema: Desc, data: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinary(schema, data);
  } catch (err) {
    throw new PermanentMessageError(`undecodable ${schema.typeName}`, { cause: err });
  }
}

function uuid(field: string, value: string): string {
  if (!UUID.test(value)) fail(field, `not a UUID (${JSON.stringify(value.slice(0, 40))})`);
  return value.toLowerCase();
}

/** PostgreSQL text cannot hold NUL. */
function text(field: string, value: string, max?: number): string {
  if (value.includes('\u0000')) fail(field, 'contains a NUL character');
  if (max !== undefined && value.length > max) fail(field, `longer than ${max} characters`);
  return value;
}

function labels(field: string, values: readonly string[]): string[] {
  if (values.length > MAX_LABELS) fail(field, `more than ${MAX_LABELS} entries`);
  return values.map((v, i) => {
    if (v === '') fail(`${field}[${i}]`, 'empty');
    return text(`${field}[${i}]`, v, MAX_LABEL);
  });
}

function int(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) fail(field, `${value} is outside ${min}..${max}`);
  return value;
}

function access(field: string, a: DocumentAccess | undefined): AccessFacts {
  if (!a) fail(field, 'missing');
  if (a.ownerId === '') fail(`${field}.owner_id`, 'empty');
  if (a.accessSeq < 0n) fail(`${field}.access_seq`, `${a.accessSeq} is negative`);
  return {
    ownerId: text(`${field}.owner_id`, a.ownerId, MAX_LABEL),
    isPublic: a.isPublic,
    sharedRoles: [...new Set(labels(`${field}.shared_roles`, a.sharedRoles))],
    tags: [...new Set(labels(`${field}.tags`, a.tags))],
    title: text(`${field}.title`, a.title, MAX_TITLE),
    accessSeq: a.accessSeq,
  };
}

/** A passage vector's bytes (float32 little-endian) as a pgvector literal, refusing what the index cannot hold. */
function passageLiteral(field: string, bytes: Uint8Array, dims: number): string {
  if (bytes.byteLength !== dims * 4) fail(field, `${bytes.byteLength} bytes, expected ${dims * 4} (${dims} float32)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '[';
  let zero = true;
  for (let i = 0; i < dims; i++) {
    const x = view.getFloat32(i * 4, true);
    if (!Number.isFinite(x) || Math.abs(x) > HALF_MAX) fail(field, `value ${i} is ${x} (finite values up to ±${HALF_MAX} only)`);
    if (x !== 0) zero = false;
    out += (i > 0 ? ',' : '') + x.toPrecision(9);
  }
  if (zero) fail(field, 'all zeros (a cosine distance to it is undefined)');
  return `${out}]`;
}

function chunk(field: string, c: IndexChunk, totalChunks: number, dims: number): StagedChunk {
  if (c.passageVectors.length === 0) fail(`${field}.passage_vectors`, 'empty (at least one passage vector per chunk)');
  const pageStart = int(`${field}.page_start`, c.pageStart, 0, 10_000_000);
  const pageEnd = int(`${field}.page_end`, c.pageEnd, 0, 10_000_000);
  if (pageStart > 0 && pageEnd > 0 && pageEnd < pageStart) fail(`${field}.page_end`, `${pageEnd} is before page_start ${pageStart}`);
  return {
    id: uuid(`${field}.chunk_id`, c.chunkId),
    chunkIndex: int(`${field}.chunk_index`, c.chunkIndex, 0, Math.max(0, totalChunks - 1)),
    content: text(`${field}.content`, c.content),
    headingPath: c.headingPath.map((h, i) => text(`${field}.heading_path[${i}]`, h, MAX_TITLE)),
    pageStart: pageStart || null,
    pageEnd: pageEnd || null,
    passages: c.passageVectors.map((v, i) => passageLiteral(`${field}.passage_vectors[${i}]`, v, dims)),
  };
}

/** Decodes and checks an IndexChunksBatch (JOBS_SEARCH). */
export function parseIndexBatch(data: Uint8Array): ChunkBatch {
  const m = decode(IndexChunksBatchSchema, data);
  const documentId = uuid('document_id', m.documentId);
  const version = int('version', m.version, 1, WHOLE_DOCUMENT - 1);
  const batchCount = int('batch_count', m.batchCount, 1, 10_000_000);
  const batchIndex = int('batch_index', m.batchIndex, 0, batchCount - 1);
  const totalChunks = int('total_chunks', m.totalChunks, m.chunks.length, 10_000_000);
  const dims = int('dimensions', m.dimensions, 1, MAX_DIMENSIONS);
  if (m.model === '') fail('model', 'empty');
  const chunks = m.chunks.map((c, i) => chunk(`chunks[${i}]`, c, totalChunks, dims));
  const ids = new Set<string>();
  const indexes = new Set<number>();
  chunks.forEach((c, i) => {
    if (ids.has(c.id)) fail(`chunks[${i}].chunk_id`, `${c.id} appears twice in the batch`);
    if (indexes.has(c.chunkIndex)) fail(`chunks[${i}].chunk_index`, `${c.chunkIndex} appears twice in the batch`);
    ids.add(c.id);
    indexes.add(c.chunkIndex);
  });
  return { documentId, version, batchIndex, batchCount, totalChunks, model: text('model', m.model, MAX_LABEL), dims, access: access('access', m.access), chunks };
}

/** Decodes and checks a DocumentDeleted (EVENTS). */
export function parseDocumentDeleted(data: Uint8Array): DocumentDeletion {
  const m = decode(DocumentDeletedSchema, data);
  return { documentId: uuid('document_id', m.documentId), version: m.version === 0 ? null : int('version', m.version, 1, WHOLE_DOCUMENT - 1) };
}

/** Decodes and checks a DocumentAccessChanged (EVENTS). */
export function parseAccessChanged(data: Uint8Array): AccessChange {
  const m = decode(DocumentAccessChangedSchema, data);
  return { documentId: uuid('document_id', m.documentId), access: access('access', m.access) };
}
