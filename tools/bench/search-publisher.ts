// What the search benches need to fill an index the way document-ingest
// will: IndexChunksBatch work on JOBS_SEARCH (proto/csda/search/v1/index.proto),
// a document version's chunks split into messages well under NATS's 1 MiB,
// then a wait until the search service made every version live.
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { DocumentAccessSchema, IndexChunkSchema, IndexChunksBatchSchema, type IndexChunk } from '@csda/proto/csda/search/v1/index_pb.js';
import { publishProto, type Nats } from '@csda/service-kit';
import { query } from '@csda/testing';
import type { CorpusVectors } from './embedding-cache.ts';
import type { IrDoc } from './ir-corpus.ts';

const MAX_BATCH_BYTES = 200 * 1024;

export interface BenchChunk {
  readonly content: string;
  readonly headingPath?: readonly string[];
  /** One unit vector per passage. */
  readonly passages: readonly Float32Array[];
}

export interface BenchDocument {
  readonly documentId: string;
  readonly model: string;
  readonly dimensions: number;
  readonly access: { ownerId: string; isPublic: boolean; sharedRoles: readonly string[]; tags: readonly string[]; title: string };
  readonly chunks: readonly BenchChunk[];
}

const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));

/** Publishes version 1 of `doc` as IndexChunksBatch messages of at most ~200 KiB each. */
export async function publishDocument(nats: Nats, doc: BenchDocument): Promise<void> {
  const chunks: IndexChunk[] = doc.chunks.map((c, i) =>
    create(IndexChunkSchema, { chunkId: randomUUID(), chunkIndex: i, content: c.content, headingPath: [...(c.headingPath ?? [])], passageVectors: c.passages.map(bytesOf) }),
  );
  const parts: IndexChunk[][] = [[]];
  let size = 0;
  for (const chunk of chunks) {
    const bytes = toBinary(IndexChunkSchema, chunk).length + 8;
    if (size + bytes > MAX_BATCH_BYTES && parts.at(-1)!.length > 0) {
      parts.push([]);
      size = 0;
    }
    parts.at(-1)!.push(chunk);
    size += bytes;
  }
  const access = create(DocumentAccessSchema, { ...doc.access, sharedRoles: [...doc.access.sharedRoles], tags: [...doc.access.tags], accessSeq: 1n });
  const subject = nats.subjects.subject('csda.jobs.search.index');
  for (const [batchIndex, part] of parts.entries()) {
    const eventId = `index:${doc.documentId}:1:${batchIndex}`;
    const batch = create(IndexChunksBatchSchema, {
      eventId,
      documentId: doc.documentId,
      version: 1,
      batchIndex,
      batchCount: parts.length,
      totalChunks: chunks.length,
      model: doc.model,
      dimensions: doc.dimensions,
      access,
      chunks: part,
      occurredAtMs: BigInt(Date.now()),
    });
    await publishProto(nats, subject, IndexChunksBatchSchema, batch, { eventId });
  }
}

/** Waits until `documents` documents are live in the index at `databaseUrl`, reporting progress; returns seconds waited. */
export async function waitIndexed(databaseUrl: string, documents: number, onProgress?: (live: number) => void, timeoutMs = 3_600_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const [row] = await query<{ n: string }>(databaseUrl, 'select count(*) as n from search.documents where live_version is not null');
    const live = Number(row?.n ?? 0);
    onProgress?.(live);
    if (live >= documents) return (performance.now() - started) / 1000;
    if (performance.now() - started > timeoutMs) throw new Error(`only ${live} of ${documents} documents live after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Publishes each IR document as one private chunk of `ownerId` (its text, its
 * title, its passage vectors from `vectors`); returns document id → the
 * collection's own id.
 */
export async function publishCollection(nats: Nats, docs: readonly IrDoc[], vectors: CorpusVectors, ownerId: string): Promise<Map<string, string>> {
  const dims = vectors.dimensions;
  const passages = new Map<number, Float32Array[]>();
  vectors.items.forEach((item, row) => {
    const list = passages.get(item.doc) ?? [];
    list.push(vectors.vectors.subarray(row * dims, (row + 1) * dims));
    passages.set(item.doc, list);
  });
  const ids = new Map<string, string>();
  for (const [i, d] of docs.entries()) {
    const documentId = randomUUID();
    ids.set(documentId, d.id);
    await publishDocument(nats, {
      documentId,
      model: vectors.model,
      dimensions: dims,
      access: { ownerId, isPublic: false, sharedRoles: [], tags: [], title: d.title },
      chunks: [{ content: d.text, passages: passages.get(i)! }],
    });
  }
  return ids;
}

/** A search principal's internal token, minted again every 20 s: they are short-lived and the benches run for minutes. */
export function freshSearchToken(sign: () => Promise<string>): () => Promise<string> {
  let minted = { token: '', at: 0 };
  return async () => {
    if (Date.now() - minted.at > 20_000) minted = { token: await sign(), at: Date.now() };
    return minted.token;
  };
}
