import type { Block, Chunk, DocumentFormat } from '@csda/documents';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BlobStoreKind } from '../blobs/blob-store.ts';
import { STAGE_STATUS, type AccessFacts, type Stage, type VersionStatus } from '../documents/document.types.ts';
import { enqueue, runner, textArray } from '../documents/sql.ts';
import type { OutboxMessage, Subjects } from '@csda/service-kit';
import { documentChanged, reindexJobResult, type ReindexJobStatus } from './messages.ts';
import type { StoredChunk } from './index-batches.ts';

/** What a stage needs to know about its document and version. */
export interface StageContext {
  readonly documentId: string;
  readonly version: number;
  readonly status: VersionStatus;
  readonly stage: Stage | null;
  readonly publishedAt: Date | null;
  readonly model: string | null;
  readonly dimensions: number | null;
  readonly format: DocumentFormat;
  readonly blobStore: BlobStoreKind;
  readonly blobKey: string;
  readonly access: AccessFacts;
}

interface ContextRow {
  status: VersionStatus;
  stage: Stage | null;
  published_at: Date | null;
  model: string | null;
  dimensions: number | null;
  format: DocumentFormat;
  blob_store: BlobStoreKind;
  blob_key: string;
  owner_id: string;
  title: string;
  tags: string[];
  is_public: boolean;
  shared_roles: string[];
  access_seq: string;
}

interface ChunkRow {
  id: string;
  chunk_index: number;
  content: string;
  heading_path: string[];
  page_start: number | null;
  page_end: number | null;
  passages: number;
  vectors: Buffer;
}

/** Blocks per parsed_parts row: keeps each row well under a few MiB of JSON. */
const BLOCKS_PER_PART = 500;
const CHUNKS_PER_INSERT = 200;
const UNFINISHED = `('queued', 'parsing', 'chunking', 'embedding', 'indexing')`;

/** A stage's timing merged into `stage_ms`: from when the stage was first started. */
/** In a RETURNING list: what a status change reports (ResourceChanged; a JobResult when a schedule started the version). */
const OWNER = `(select d.owner_id from ingest.documents d where d.id = ingest.versions.document_id) as owner_id,
  version, status, error, failed_stage, chunks_total, schedule_id, schedule_run_id, started_at, finished_at`;

/** A version after a status change (the RETURNING of OWNER). */
interface Changed {
  owner_id: string;
  version: number;
  status: VersionStatus;
  error: string | null;
  failed_stage: Stage | null;
  chunks_total: number;
  schedule_id: string | null;
  schedule_run_id: string | null;
  started_at: Date | string | null;
  finished_at: Date | string | null;
}

/** The JobResult status a version's new status reports (a scheduled reindex only), if any. */
function jobStatus(status: VersionStatus): ReindexJobStatus | undefined {
  if (status === 'parsing') return 'running';
  if (status === 'ready') return 'succeeded';
  return status === 'failed' ? 'failed' : undefined;
}

const at = (v: Date | string | null) => (v === null ? null : v instanceof Date ? v : new Date(v));

const stageMs = (stage: Stage) => `stage_ms = stage_ms || jsonb_build_object('${stage}', greatest(0, (extract(epoch from (now() - coalesce(stage_started_at, now()))) * 1000)::bigint))`;

/**
 * The pipeline's queries on `ingest.versions`, `parsed_parts` and `chunks`.
 * Every transition names the status it leaves, so a repeated one changes
 * nothing; each one that changes the status commits a `status`
 * ResourceChanged with it (the gateway's cache shows the status).
 */
export function createPipelineRepository(em: () => EntityManager, subjects: Subjects) {
  const tx = <T>(work: (run: ReturnType<typeof runner>, e: EntityManager) => Promise<T>) => em().transactional((t) => work(runner(t as EntityManager), t as EntityManager));
  const run = <T>(sql: string, params: unknown[] = []) => runner(em())<T>(sql, params);
  const statusChanged = async (e: EntityManager, documentId: string, rows: readonly Changed[]) => {
    const [row] = rows;
    if (!row) return;
    const messages = [documentChanged(subjects, documentId, 'status', row.owner_id)];
    const job = jobStatus(row.status);
    if (row.schedule_id && job) {
      const v = { documentId, version: row.version, ownerId: row.owner_id, scheduleId: row.schedule_id, scheduleRunId: row.schedule_run_id ?? '', startedAt: at(row.started_at), finishedAt: at(row.finished_at) };
      const what = `document ${documentId} version ${row.version}`;
      if (job === 'running') messages.push(reindexJobResult(subjects, v, job, { detail: `${what} parsing` }));
      else if (job === 'succeeded') messages.push(reindexJobResult(subjects, v, job, { detail: `${what} ready: ${row.chunks_total} chunks` }));
      else messages.push(reindexJobResult(subjects, v, job, { detail: `${what} failed`, error: `${row.failed_stage ? `${row.failed_stage} failed: ` : ''}${row.error ?? 'failed'}` }));
    }
    await enqueue(e, messages);
  };
  /** Moves the version from `from` to the next stage and enqueues its job, in one transaction with `extra`. */
  const advance = async (r: ReturnType<typeof runner>, e: EntityManager, documentId: string, version: number, from: Stage, to: Stage, job: OutboxMessage, extra = '', params: unknown[] = []) => {
    const rows = await r<Changed[]>(
      `update ingest.versions set ${stageMs(from)}, status = ?, stage = ?, stage_started_at = now(), attempts = 0, error = null, updated_at = now()${extra}
       where document_id = ? and version = ? and status = ? returning ${OWNER}`,
      [STAGE_STATUS[to], to, ...params, documentId, version, STAGE_STATUS[from]],
    );
    if (rows.length > 0) await enqueue(e, [job]);
    await statusChanged(e, documentId, rows);
    return rows.length > 0;
  };

  return {
    async context(documentId: string, version: number): Promise<StageContext | undefined> {
      const [row] = await run<ContextRow[]>(
        `select v.status, v.stage, v.published_at, v.model, v.dimensions, d.format, d.blob_store, d.blob_key, d.owner_id, d.title, d.tags, d.is_public, d.shared_roles, d.access_seq::text as access_seq
         from ingest.versions v join ingest.documents d on d.id = v.document_id where v.document_id = ? and v.version = ? and d.deleted_at is null`,
        [documentId, version],
      );
      if (!row) return undefined;
      return {
        documentId,
        version,
        status: row.status,
        stage: row.stage,
        publishedAt: row.published_at,
        model: row.model,
        dimensions: row.dimensions,
        format: row.format,
        blobStore: row.blob_store,
        blobKey: row.blob_key,
        access: { ownerId: row.owner_id, title: row.title, tags: row.tags, isPublic: row.is_public, sharedRoles: row.shared_roles, accessSeq: BigInt(row.access_seq) },
      };
    },

    /** The stage starts (or starts again): status, stage, the delivery attempt; false when the version is no longer at it. */
    async begin(documentId: string, version: number, stage: Stage, attempt: number): Promise<boolean> {
      const from = stage === 'parse' ? `('queued', 'parsing')` : `('${STAGE_STATUS[stage]}')`;
      return tx(async (r, e) => {
        // Only a first parse changes the status (queued → parsing); a retry of a stage keeps it.
        const [before] = await r<{ status: VersionStatus }[]>('select status from ingest.versions where document_id = ? and version = ? for update', [documentId, version]);
        const rows = await r<Changed[]>(
          `update ingest.versions set status = ?, stage = ?, attempts = ?, updated_at = now(), started_at = coalesce(started_at, now()),
             stage_started_at = case when stage is distinct from ? or stage_started_at is null then now() else stage_started_at end
           where document_id = ? and version = ? and status in ${from} returning ${OWNER}`,
          [STAGE_STATUS[stage], stage, attempt, stage, documentId, version],
        );
        if (before?.status !== STAGE_STATUS[stage]) await statusChanged(e, documentId, rows);
        return rows.length > 0;
      });
    },

    /** Heartbeat and progress: keeps the stall sweep away from a stage that is working. */
    async progress(documentId: string, version: number, p: { pagesParsed?: number; pagesTotal?: number } = {}): Promise<void> {
      await run(`update ingest.versions set updated_at = now(), pages_parsed = coalesce(?, pages_parsed), pages_total = coalesce(?, pages_total) where document_id = ? and version = ? and status in ${UNFINISHED}`, [
        p.pagesParsed ?? null,
        p.pagesTotal ?? null,
        documentId,
        version,
      ]);
    },

    /** A failed attempt that will be retried: its reason is shown with the status meanwhile. */
    async retrying(documentId: string, version: number, reason: string): Promise<void> {
      await run(`update ingest.versions set error = ?, updated_at = now() where document_id = ? and version = ? and status in ${UNFINISHED}`, [reason.slice(0, 2_000), documentId, version]);
    },

    /** The version failed at `stage` for `reason`; what it made so far is dropped. */
    async fail(documentId: string, version: number, stage: Stage, reason: string): Promise<boolean> {
      return tx(async (r, e) => {
        const rows = await r<Changed[]>(
          `update ingest.versions set status = 'failed', failed_stage = ?, stage = ?, error = ?, updated_at = now(), finished_at = now() where document_id = ? and version = ? and status in ${UNFINISHED} returning ${OWNER}`,
          [stage, stage, reason.slice(0, 2_000), documentId, version],
        );
        await statusChanged(e, documentId, rows);
        await r('delete from ingest.parsed_parts where document_id = ? and version = ?', [documentId, version]);
        await r('delete from ingest.chunks where document_id = ? and version = ?', [documentId, version]);
        return rows.length > 0;
      });
    },

    /** Parse done: the blocks, page count and encoding are kept, and the chunk stage is queued. */
    async saveParsed(documentId: string, version: number, parsed: { blocks: Block[]; pages: number; encoding: string | null; warnings: string[] }, next: OutboxMessage): Promise<boolean> {
      return tx(async (r, e) => {
        const extra = ', pages_parsed = ?, pages_total = ?, encoding = ?, warnings = ?::text[]';
        const warnings = textArray(parsed.warnings.slice(0, 50).map((w) => w.slice(0, 500)));
        // The transition first: a version superseded or failed meanwhile gets nothing written.
        if (!(await advance(r, e, documentId, version, 'parse', 'chunk', next, extra, [parsed.pages, parsed.pages, parsed.encoding, warnings]))) return false;
        await r('delete from ingest.parsed_parts where document_id = ? and version = ?', [documentId, version]);
        for (let part = 0; part * BLOCKS_PER_PART < parsed.blocks.length; part++) {
          const blocks = parsed.blocks.slice(part * BLOCKS_PER_PART, (part + 1) * BLOCKS_PER_PART);
          await r('insert into ingest.parsed_parts (document_id, version, part, blocks) values (?, ?, ?, ?::jsonb)', [documentId, version, part, JSON.stringify(blocks)]);
        }
        return true;
      });
    },

    async parsedBlocks(documentId: string, version: number): Promise<{ blocks: Block[]; pages: number }> {
      const parts = await run<{ blocks: Block[] }[]>('select blocks from ingest.parsed_parts where document_id = ? and version = ? order by part', [documentId, version]);
      const [v] = await run<{ pages_total: number }[]>('select pages_total from ingest.versions where document_id = ? and version = ?', [documentId, version]);
      return { blocks: parts.flatMap((p) => p.blocks), pages: v?.pages_total ?? 0 };
    },

    /** Chunk done: the chunks replace any earlier attempt's, the parsed blocks go, and the embed stage is queued. */
    async saveChunks(documentId: string, version: number, chunks: readonly Chunk[], next: OutboxMessage): Promise<boolean> {
      return tx(async (r, e) => {
        if (!(await advance(r, e, documentId, version, 'chunk', 'embed', next, ', chunks_total = ?, chunks_embedded = 0', [chunks.length]))) return false;
        await r('delete from ingest.chunks where document_id = ? and version = ?', [documentId, version]);
        for (let i = 0; i < chunks.length; i += CHUNKS_PER_INSERT) {
          const part = chunks.slice(i, i + CHUNKS_PER_INSERT);
          const values = part.map(() => '(?, ?, ?, ?, ?, ?::text[], ?, ?, ?)').join(', ');
          const params = part.flatMap((c) => [documentId, version, c.index, c.id, c.text, textArray(c.headingPath), c.pageStart ?? null, c.pageEnd ?? null, c.tokens]);
          await r(`insert into ingest.chunks (document_id, version, chunk_index, id, content, heading_path, page_start, page_end, tokens) values ${values}`, params);
        }
        await r('delete from ingest.parsed_parts where document_id = ? and version = ?', [documentId, version]);
        return true;
      });
    },

    /** The model of this version's vectors; vectors made by another model (a changed configuration) are dropped. */
    async useModel(documentId: string, version: number, model: string, dimensions: number): Promise<void> {
      await tx(async (r) => {
        const [v] = await r<{ model: string | null; dimensions: number | null }[]>('select model, dimensions from ingest.versions where document_id = ? and version = ? for update', [documentId, version]);
        if (v?.model === model && v.dimensions === dimensions) return;
        await r('update ingest.chunks set passages = null, vectors = null where document_id = ? and version = ?', [documentId, version]);
        await r('update ingest.versions set model = ?, dimensions = ?, chunks_embedded = 0, updated_at = now() where document_id = ? and version = ?', [model, dimensions, documentId, version]);
      });
    },

    async unembedded(documentId: string, version: number, limit: number): Promise<{ index: number; content: string }[]> {
      return run<{ index: number; content: string }[]>('select chunk_index as index, content from ingest.chunks where document_id = ? and version = ? and vectors is null order by chunk_index limit ?', [
        documentId,
        version,
        limit,
      ]);
    },

    /** One embedding round's vectors, committed with the progress count. */
    async saveVectors(documentId: string, version: number, rows: readonly { index: number; passages: number; vectors: Buffer }[]): Promise<number> {
      return tx(async (r) => {
        for (const row of rows) {
          await r('update ingest.chunks set passages = ?, vectors = ? where document_id = ? and version = ? and chunk_index = ?', [row.passages, row.vectors, documentId, version, row.index]);
        }
        const [v] = await r<{ n: number }[]>(
          `update ingest.versions set chunks_embedded = (select count(*) from ingest.chunks where document_id = ? and version = ? and vectors is not null), updated_at = now()
           where document_id = ? and version = ? returning chunks_embedded as n`,
          [documentId, version, documentId, version],
        );
        return v?.n ?? 0;
      });
    },

    async embedDone(documentId: string, version: number, next: OutboxMessage): Promise<boolean> {
      return tx((r, e) => advance(r, e, documentId, version, 'embed', 'index', next));
    },

    /** Chunks from `fromIndex` on, with their vectors, in order. */
    async chunkPage(documentId: string, version: number, fromIndex: number, limit: number): Promise<StoredChunk[]> {
      const rows = await run<ChunkRow[]>(
        `select id, chunk_index, content, heading_path, page_start, page_end, passages, vectors from ingest.chunks
         where document_id = ? and version = ? and chunk_index >= ? and vectors is not null order by chunk_index limit ?`,
        [documentId, version, fromIndex, limit],
      );
      return rows.map((c) => ({ id: c.id, chunkIndex: c.chunk_index, content: c.content, headingPath: c.heading_path, pageStart: c.page_start, pageEnd: c.page_end, passages: c.passages, vectors: c.vectors }));
    },

    /** The index stage hands the batches to the outbox; the version then waits for search. */
    async published(documentId: string, version: number, batches: AsyncIterable<OutboxMessage>): Promise<boolean> {
      return tx(async (r, e) => {
        const rows = await r<unknown[]>(
          `update ingest.versions set published_at = now(), updated_at = now(), error = null where document_id = ? and version = ? and status = 'indexing' and published_at is null returning version`,
          [documentId, version],
        );
        if (rows.length === 0) return false;
        // One batch in memory at a time; all of them commit with the mark, or none.
        for await (const batch of batches) await enqueue(e, [batch]);
        return true;
      });
    },

    /**
     * Search reports the version queryable: it is ready (if it was waiting),
     * the document's indexed version moves forward, and the chunks kept for
     * resuming are dropped. A report for an older version changes only nothing.
     */
    async indexed(documentId: string, version: number): Promise<{ ready: boolean }> {
      return tx(async (r, e) => {
        await r('update ingest.documents set indexed_version = ? where id = ? and (indexed_version is null or indexed_version < ?)', [version, documentId, version]);
        const rows = await r<Changed[]>(
          `update ingest.versions set status = 'ready', stage_ms = stage_ms || jsonb_build_object('index', greatest(0, (extract(epoch from (now() - coalesce(stage_started_at, published_at, now()))) * 1000)::bigint)),
             updated_at = now(), finished_at = now(), error = null
           where document_id = ? and version = ? and status = 'indexing' and published_at is not null returning ${OWNER}`,
          [documentId, version],
        );
        if (rows.length > 0) await r('delete from ingest.chunks where document_id = ? and version = ?', [documentId, version]);
        await statusChanged(e, documentId, rows);
        return { ready: rows.length > 0 };
      });
    },

    /** Versions whose stage made no progress for `stallMs`, or that waited for search longer than `indexTimeoutMs`. */
    async stalled(stallMs: number, indexTimeoutMs: number, limit: number) {
      return run<{ document_id: string; version: number; status: VersionStatus; stage: Stage | null; requeues: number; waiting: boolean }[]>(
        `select document_id, version, status, stage, requeues, published_at is not null as waiting from ingest.versions
         where status in ${UNFINISHED} and (
           (published_at is null and updated_at < now() - (? || ' milliseconds')::interval) or
           (published_at is not null and published_at < now() - (? || ' milliseconds')::interval))
         order by updated_at limit ?`,
        [String(stallMs), String(indexTimeoutMs), limit],
      );
    },

    /** Queues a stalled stage again (with a new job id), counting the re-queues. */
    async requeue(documentId: string, version: number, requeues: number, job: OutboxMessage): Promise<boolean> {
      return tx(async (r, e) => {
        const rows = await r<unknown[]>(`update ingest.versions set requeues = ?, updated_at = now() where document_id = ? and version = ? and requeues = ? and status in ${UNFINISHED} returning version`, [
          requeues + 1,
          documentId,
          version,
          requeues,
        ]);
        if (rows.length > 0) await enqueue(e, [job]);
        return rows.length > 0;
      });
    },
  };
}

export type PipelineRepository = ReturnType<typeof createPipelineRepository>;
