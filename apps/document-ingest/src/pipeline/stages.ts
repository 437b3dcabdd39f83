import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { toBinary } from '@bufbuild/protobuf';
import type { Block, DocumentParser } from '@csda/documents';
import { splitPassages, type EmbeddingProvider } from '@csda/embeddings';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { outboxMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';
import type { BlobStore, BlobStoreKind } from '../blobs/blob-store.ts';
import type { Stage } from '../documents/document.types.ts';
import type { ChunkPool } from './chunk-pool.ts';
import { DocumentFailure } from './failures.ts';
import { MAX_BATCH_BYTES, batchMessage, chunkFieldBytes, headerBytes, indexChunk, planBatches, type VersionHeader } from './index-batches.ts';
import { stageJob } from './messages.ts';
import type { PipelineRepository, StageContext } from './pipeline.repository.ts';

export interface StageLimits {
  readonly parseTimeoutMs: number;
  readonly maxUncompressedBytes: number;
  /** Chunks per committed embedding round. */
  readonly embedChunks: number;
  readonly tmpDir: string;
}

export interface StageDeps {
  readonly repo: PipelineRepository;
  readonly blobs: (kind: BlobStoreKind) => BlobStore;
  readonly embedder: Pick<EmbeddingProvider, 'model' | 'dimensions' | 'embed'>;
  readonly chunker: Pick<ChunkPool, 'chunk'>;
  /** Parse workers started ahead (one fresh worker per document). */
  readonly parser: Pick<DocumentParser, 'parse'>;
  readonly subjects: Subjects;
  readonly limits: StageLimits;
  /** Asks the outbox relay to publish now (after a commit that enqueued). */
  readonly kick: () => void;
}

/** Chunks read per query while the index stage sizes and builds batches. */
const PAGE = 256;
/** PostgreSQL text and jsonb hold no NUL character. */
const noNul = (s: string) => (s.includes('\u0000') ? s.replaceAll('\u0000', '') : s);

function cleanBlocks(blocks: Block[]): Block[] {
  return blocks.map((b) => {
    if (b.type === 'page_break') return b;
    if (b.type === 'table') return { ...b, rows: b.rows.map((row) => row.map(noNul)) };
    return { ...b, text: noNul(b.text) };
  });
}

/** Float32 little-endian bytes of `vectors`, one after the other. */
export function vectorBytes(vectors: readonly Float32Array[]): Buffer {
  const out = Buffer.allocUnsafe(vectors.reduce((n, v) => n + v.length * 4, 0));
  let offset = 0;
  for (const v of vectors) for (const x of v) offset = out.writeFloatLE(x, offset);
  return out;
}

const isZero = (v: Float32Array) => v.every((x) => x === 0);

/**
 * The four stages. Each starts only if the version is at it (a duplicate or
 * late delivery does nothing), commits its output together with the next
 * stage's job, and can be run again after a crash: parse and chunk redo their
 * one step, embed continues after its last committed round, index publishes
 * once (the batches and the mark commit together).
 */
export function createStages(deps: StageDeps) {
  const { repo, limits } = deps;
  const next = (ctx: StageContext, stage: Stage) => stageJob(deps.subjects, ctx.documentId, ctx.version, stage);

  async function parse(ctx: StageContext, signal: AbortSignal): Promise<void> {
    const path = join(limits.tmpDir, `${ctx.documentId}-${ctx.version}-${randomUUID().slice(0, 8)}`);
    try {
      await pipeline(Readable.from(deps.blobs(ctx.blobStore).read(ctx.blobKey, { signal })), createWriteStream(path, { mode: 0o600 }), { signal });
      let lastReport = 0;
      const doc = await deps.parser.parse(path, {
        format: ctx.format,
        limits: { maxUncompressedBytes: limits.maxUncompressedBytes },
        timeoutMs: limits.parseTimeoutMs,
        signal,
        onProgress: (p) => {
          if (Date.now() - lastReport < 500 && p.pagesParsed < p.pagesTotal) return;
          lastReport = Date.now();
          void repo.progress(ctx.documentId, ctx.version, p).catch(() => undefined);
        },
      });
      const parsed = { blocks: cleanBlocks(doc.blocks), pages: doc.pages ?? 0, encoding: doc.encoding ?? null, warnings: doc.warnings.map(noNul) };
      if (await repo.saveParsed(ctx.documentId, ctx.version, parsed, next(ctx, 'chunk'))) deps.kick();
    } finally {
      await rm(path, { force: true });
    }
  }

  async function chunk(ctx: StageContext, signal: AbortSignal): Promise<void> {
    const { blocks, pages } = await repo.parsedBlocks(ctx.documentId, ctx.version);
    const doc = { format: ctx.format, blocks, warnings: [], ...(pages > 0 ? { pages } : {}) };
    const made = await deps.chunker.chunk(doc, { documentId: ctx.documentId, version: ctx.version }, signal);
    const chunks = made
      .map((c) => ({ ...c, text: noNul(c.text).trim(), headingPath: c.headingPath.map(noNul) }))
      .filter((c) => c.text !== '');
    if (chunks.length === 0) throw new DocumentFailure('the document has no text to index');
    if (await repo.saveChunks(ctx.documentId, ctx.version, chunks.map((c, index) => ({ ...c, index })), next(ctx, 'embed'))) deps.kick();
  }

  /** One vector per passage; a passage the model maps to zero is dropped, and a chunk left without one is embedded whole. */
  async function embedRound(rows: { index: number; content: string }[], signal: AbortSignal) {
    const passages = rows.map((r) => {
      const texts = splitPassages(r.content).map((p) => p.text.trim()).filter((t) => t !== '');
      return texts.length > 0 ? texts : [r.content];
    });
    const vectors = await deps.embedder.embed(passages.flat(), { signal });
    let at = 0;
    const out: { index: number; passages: number; vectors: Buffer }[] = [];
    for (const [i, row] of rows.entries()) {
      let own = vectors.slice(at, at + passages[i]!.length).filter((v) => !isZero(v));
      at += passages[i]!.length;
      if (own.length === 0) own = (await deps.embedder.embed([row.content], { signal })).filter((v) => !isZero(v));
      if (own.length === 0) throw new DocumentFailure(`the embedding model returned an empty vector for chunk ${row.index}`);
      out.push({ index: row.index, passages: own.length, vectors: vectorBytes(own) });
    }
    return out;
  }

  async function embed(ctx: StageContext, signal: AbortSignal): Promise<void> {
    const { model, dimensions } = deps.embedder;
    await repo.useModel(ctx.documentId, ctx.version, model, dimensions);
    for (;;) {
      signal.throwIfAborted();
      const rows = await repo.unembedded(ctx.documentId, ctx.version, limits.embedChunks);
      if (rows.length === 0) break;
      await repo.saveVectors(ctx.documentId, ctx.version, await embedRound(rows, signal));
    }
    if (await repo.embedDone(ctx.documentId, ctx.version, next(ctx, 'index'))) deps.kick();
  }

  /** Pages of stored chunks from `from` up to `end` (exclusive). */
  async function* chunksFrom(ctx: StageContext, from: number, end: number) {
    for (let at = from; at < end; ) {
      const page = await repo.chunkPage(ctx.documentId, ctx.version, at, Math.min(PAGE, end - at));
      if (page.length === 0) return;
      yield* page;
      at = page.at(-1)!.chunkIndex + 1;
    }
  }

  async function index(ctx: StageContext, signal: AbortSignal): Promise<void> {
    if (ctx.publishedAt) return; // handed over already: waiting for search
    if (!ctx.model || !ctx.dimensions) throw new DocumentFailure('the version has no embedding model recorded; reindex it');
    const sizes: number[] = [];
    for await (const c of chunksFrom(ctx, 0, Number.MAX_SAFE_INTEGER)) {
      if (c.chunkIndex !== sizes.length) throw new DocumentFailure(`chunk ${sizes.length} has no vectors; reindex the document`);
      sizes.push(chunkFieldBytes(indexChunk(c, ctx.dimensions)));
    }
    const header: VersionHeader = { documentId: ctx.documentId, version: ctx.version, totalChunks: sizes.length, model: ctx.model, dimensions: ctx.dimensions, access: ctx.access };
    let ranges: [number, number][];
    try {
      ranges = planBatches(sizes, headerBytes(header));
    } catch (err) {
      throw new DocumentFailure(err instanceof Error ? err.message : 'a chunk is too large for search', { cause: err });
    }
    const subject = deps.subjects.subject('csda.jobs.search.index');
    const dims = ctx.dimensions;
    async function* batches(): AsyncIterable<OutboxMessage> {
      for (const [i, [start, end]] of ranges.entries()) {
        signal.throwIfAborted();
        const chunks = [];
        for await (const c of chunksFrom(ctx, start, end)) chunks.push(indexChunk(c, dims));
        const batch = batchMessage(header, i, ranges.length, chunks);
        const bytes = toBinary(IndexChunksBatchSchema, batch).length;
        if (bytes > MAX_BATCH_BYTES) throw new Error(`batch ${i} encodes to ${bytes} bytes, over ${MAX_BATCH_BYTES}`);
        yield outboxMessage(subject, IndexChunksBatchSchema, batch, { eventId: batch.eventId, aggregate: `document:${ctx.documentId}` });
      }
    }
    if (await repo.published(ctx.documentId, ctx.version, batches())) deps.kick();
  }

  return {
    run(stage: Stage, ctx: StageContext, signal: AbortSignal): Promise<void> {
      switch (stage) {
        case 'parse':
          return parse(ctx, signal);
        case 'chunk':
          return chunk(ctx, signal);
        case 'embed':
          return embed(ctx, signal);
        case 'index':
          return index(ctx, signal);
      }
    },
  };
}

export type Stages = ReturnType<typeof createStages>;
