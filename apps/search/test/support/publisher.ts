// Publishes what document-ingest hands to search (proto/csda/search/v1/index.proto):
// a document version's chunks with their passage vectors as IndexChunksBatch
// work on JOBS_SEARCH, split so each message stays under 256 KiB, plus the
// document.deleted and document.access_changed events. Used by the search
// tests and benchmarks until document-ingest publishes for real (issue 10).
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  DocumentAccessChangedSchema,
  DocumentAccessSchema,
  DocumentDeletedSchema,
  IndexChunkSchema,
  IndexChunksBatchSchema,
  type DocumentAccess,
  type IndexChunk,
  type IndexChunksBatch,
} from '@csda/proto/csda/search/v1/index_pb.js';
import { publishPayload, publishProto, type Nats } from '@csda/service-kit';

/** Largest encoded IndexChunksBatch the publisher produces (NATS refuses payloads over 1 MiB). */
export const MAX_BATCH_BYTES = 256 * 1024;

export interface AccessInput {
  readonly ownerId: string;
  readonly isPublic?: boolean;
  readonly sharedRoles?: readonly string[];
  readonly tags?: readonly string[];
  readonly title?: string;
  readonly accessSeq: number | bigint;
}

export interface ChunkInput {
  /** Default: a new UUID (chunk ids are new for every version). */
  readonly chunkId?: string;
  readonly content: string;
  readonly headingPath?: readonly string[];
  readonly pageStart?: number;
  readonly pageEnd?: number;
  /** One vector per passage, at least one. */
  readonly passages: readonly Float32Array[];
}

export interface VersionInput {
  readonly documentId: string;
  readonly version: number;
  readonly model: string;
  readonly dimensions: number;
  readonly access: AccessInput;
  readonly chunks: readonly ChunkInput[];
}

/** float32 little-endian, as IndexChunk.passage_vectors carries them. */
export function vectorBytes(vector: Float32Array): Uint8Array {
  const out = new Uint8Array(vector.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] as number, true);
  return out;
}

export function accessMessage(a: AccessInput): DocumentAccess {
  return create(DocumentAccessSchema, {
    ownerId: a.ownerId,
    isPublic: a.isPublic ?? false,
    sharedRoles: [...(a.sharedRoles ?? [])],
    tags: [...(a.tags ?? [])],
    title: a.title ?? '',
    accessSeq: BigInt(a.accessSeq),
  });
}

const varintSize = (n: number) => (n < 2 ** 7 ? 1 : n < 2 ** 14 ? 2 : n < 2 ** 21 ? 3 : n < 2 ** 28 ? 4 : 5);
/** Bytes a length-delimited field adds to its message: tag (1 byte for field numbers < 16) + length varint + payload. */
const fieldBytes = (length: number) => 1 + varintSize(length) + length;

/**
 * The version as IndexChunksBatch messages, chunks in order, each message at
 * most `maxBytes` encoded (a chunk alone over it is an error: split it first).
 */
export function splitIntoBatches(doc: VersionInput, maxBytes = MAX_BATCH_BYTES): IndexChunksBatch[] {
  const chunks: IndexChunk[] = doc.chunks.map((c, i) =>
    create(IndexChunkSchema, {
      chunkId: c.chunkId ?? randomUUID(),
      chunkIndex: i,
      content: c.content,
      headingPath: [...(c.headingPath ?? [])],
      pageStart: c.pageStart ?? 0,
      pageEnd: c.pageEnd ?? 0,
      passageVectors: c.passages.map(vectorBytes),
    }),
  );
  const base = (batchIndex: number, batchCount: number, part: IndexChunk[]) =>
    create(IndexChunksBatchSchema, {
      eventId: `index:${doc.documentId}:${doc.version}:${batchIndex}`,
      documentId: doc.documentId,
      version: doc.version,
      batchIndex,
      batchCount,
      totalChunks: chunks.length,
      model: doc.model,
      dimensions: doc.dimensions,
      access: accessMessage(doc.access),
      chunks: part,
      occurredAtMs: BigInt(Date.now()),
    });
  // Header with the widest batch numbers it can have, plus slack for the timestamp.
  const header = toBinary(IndexChunksBatchSchema, base(chunks.length, chunks.length + 1, [])).length + 16;
  const parts: IndexChunk[][] = [[]];
  let size = header;
  for (const chunk of chunks) {
    const bytes = fieldBytes(toBinary(IndexChunkSchema, chunk).length);
    if (header + bytes > maxBytes) throw new RangeError(`chunk ${chunk.chunkIndex} alone encodes to ${header + bytes} bytes, over ${maxBytes}: split it`);
    if (size + bytes > maxBytes && parts.at(-1)!.length > 0) {
      parts.push([]);
      size = header;
    }
    parts.at(-1)!.push(chunk);
    size += bytes;
  }
  return parts.map((part, i) => base(i, parts.length, part));
}

export interface IndexPublisher {
  /** One batch as document-ingest publishes it (Nats-Msg-Id = its event id). */
  publishBatch(batch: IndexChunksBatch): Promise<void>;
  /** Splits and publishes a version; `order` may reorder (or repeat) the batches. Returns what was published. */
  publishVersion(doc: VersionInput, options?: { order?: (batches: IndexChunksBatch[]) => IndexChunksBatch[]; maxBytes?: number }): Promise<IndexChunksBatch[]>;
  /** document.deleted: `version` undefined deletes the whole document. */
  deleteDocument(documentId: string, version?: number): Promise<void>;
  /** document.access_changed. */
  changeAccess(documentId: string, access: AccessInput): Promise<void>;
  /** Raw bytes on a subject (hostile payloads in tests). */
  publishRaw(tail: 'index' | 'deleted' | 'access_changed', payload: Uint8Array, eventId: string, eventType?: string): Promise<void>;
}

export function createIndexPublisher(nats: Nats): IndexPublisher {
  const jobs = nats.subjects.subject('csda.jobs.search.index');
  const events = (verb: string) => nats.subjects.subject(`csda.events.document-ingest.document.${verb}`);
  const publisher: IndexPublisher = {
    async publishBatch(batch) {
      await publishProto(nats, jobs, IndexChunksBatchSchema, batch, { eventId: batch.eventId });
    },
    async publishVersion(doc, options = {}) {
      const batches = splitIntoBatches(doc, options.maxBytes);
      const ordered = options.order ? options.order(batches) : batches;
      for (const batch of ordered) await publisher.publishBatch(batch);
      return ordered;
    },
    async deleteDocument(documentId, version) {
      const eventId = `deleted:${documentId}:${version ?? 'all'}`;
      await publishProto(nats, events('deleted'), DocumentDeletedSchema, create(DocumentDeletedSchema, { eventId, documentId, version: version ?? 0, occurredAtMs: BigInt(Date.now()) }), { eventId });
    },
    async changeAccess(documentId, access) {
      const eventId = `access:${documentId}:${access.accessSeq}`;
      const message = create(DocumentAccessChangedSchema, { eventId, documentId, access: accessMessage(access), occurredAtMs: BigInt(Date.now()) });
      await publishProto(nats, events('access_changed'), DocumentAccessChangedSchema, message, { eventId });
    },
    async publishRaw(tail, payload, eventId, eventType) {
      const type = eventType ?? (tail === 'index' ? IndexChunksBatchSchema.typeName : tail === 'deleted' ? DocumentDeletedSchema.typeName : DocumentAccessChangedSchema.typeName);
      await publishPayload(nats, tail === 'index' ? jobs : events(tail), payload, { eventId, eventType: type });
    },
  };
  return publisher;
}
