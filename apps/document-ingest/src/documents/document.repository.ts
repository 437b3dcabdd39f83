import type { DocumentFormat } from '@csda/documents';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BlobStoreKind } from '../blobs/blob-store.ts';
import type { DocumentRecord, Stage, VersionStatus, Visibility } from './document.types.ts';
import { date, runner, textArray } from './sql.ts';

interface DocumentRow {
  id: string;
  owner_id: string;
  title: string;
  tags: string[];
  is_public: boolean;
  shared_roles: string[];
  access_seq: string;
  filename: string;
  format: DocumentFormat;
  mime_type: string;
  size_bytes: string;
  sha256: string;
  blob_store: BlobStoreKind;
  blob_key: string;
  current_version: number;
  indexed_version: number | null;
  created_at: Date | string;
  updated_at: Date | string;
  v_status: VersionStatus;
  v_stage: Stage | null;
  pages_parsed: number;
  pages_total: number;
  chunks_total: number;
  chunks_embedded: number;
  attempts: number;
  stage_ms: Record<string, number>;
  error: string | null;
  failed_stage: Stage | null;
  model: string | null;
  v_updated_at: Date | string;
}

const COLUMNS = `d.id, d.owner_id, d.title, d.tags, d.is_public, d.shared_roles, d.access_seq::text as access_seq, d.filename, d.format, d.mime_type,
  d.size_bytes::text as size_bytes, d.sha256, d.blob_store, d.blob_key, d.current_version, d.indexed_version, d.created_at, d.updated_at,
  v.status as v_status, v.stage as v_stage, v.pages_parsed, v.pages_total, v.chunks_total, v.chunks_embedded, v.attempts, v.stage_ms, v.error,
  v.failed_stage, v.model, v.updated_at as v_updated_at`;
const FROM = 'ingest.documents d join ingest.versions v on v.document_id = d.id and v.version = d.current_version';
/** FROM with the version a parameter names instead of the current one. */
const FROM_VERSION = 'ingest.documents d join ingest.versions v on v.document_id = d.id and v.version = ?';

/** A version a schedule started that had not finished (superseded by a reindex, or dropped with its document). */
export interface ScheduledRow {
  version: number;
  schedule_id: string;
  schedule_run_id: string | null;
  started_at: Date | string | null;
}

/** Who started a version: an idempotency key, and the schedule and run it reports to. */
export interface VersionOrigin {
  readonly idempotencyKey?: string | undefined;
  readonly scheduleId?: string | undefined;
  readonly scheduleRunId?: string | undefined;
}

const toRecord = (r: DocumentRow): DocumentRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  title: r.title,
  tags: r.tags,
  isPublic: r.is_public,
  sharedRoles: r.shared_roles,
  accessSeq: BigInt(r.access_seq),
  filename: r.filename,
  format: r.format,
  mimeType: r.mime_type,
  sizeBytes: Number(r.size_bytes),
  sha256: r.sha256,
  blobStore: r.blob_store,
  blobKey: r.blob_key,
  currentVersion: r.current_version,
  indexedVersion: r.indexed_version,
  createdAt: date(r.created_at),
  updatedAt: date(r.updated_at),
  state: {
    version: r.current_version,
    status: r.v_status,
    stage: r.v_stage,
    pagesParsed: r.pages_parsed,
    pagesTotal: r.pages_total,
    chunksTotal: r.chunks_total,
    chunksEmbedded: r.chunks_embedded,
    attempts: r.attempts,
    stageMs: r.stage_ms ?? {},
    error: r.error,
    failedStage: r.failed_stage,
    model: r.model,
    updatedAt: date(r.v_updated_at),
  },
});

export interface NewDocument {
  readonly id: string;
  readonly ownerId: string;
  readonly title: string;
  readonly tags: readonly string[];
  readonly isPublic: boolean;
  readonly sharedRoles: readonly string[];
  readonly filename: string;
  readonly format: DocumentFormat;
  readonly mimeType: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  readonly blobStore: BlobStoreKind;
  readonly blobKey: string;
}

export interface AccessChange {
  readonly title?: string;
  readonly tags?: readonly string[];
  readonly isPublic?: boolean;
  readonly sharedRoles?: readonly string[];
}

export interface ListFilter {
  readonly status?: string;
  readonly tags: readonly string[];
  readonly ownerId?: string;
  readonly limit: number;
  readonly offset: number;
}

/** The only place that touches `ingest.documents` for the RPCs (the pipeline has its own queries). */
function createQueries(em: EntityManager) {
  const run = runner(em);
  const visible = (v: Visibility) =>
    v.all ? { sql: 'true', params: [] as unknown[] } : { sql: '(d.owner_id = ? or d.is_public or d.shared_roles && ?::text[])', params: [v.userId, textArray(v.roles)] as unknown[] };

  return {
    em,

    /** The document with its current version's state, or `version`'s when given. */
    async findVisible(id: string, v: Visibility, version?: number): Promise<DocumentRecord | undefined> {
      const vis = visible(v);
      const [from, fromParams] = version === undefined ? [FROM, []] : [FROM_VERSION, [version]];
      const [row] = await run<DocumentRow[]>(`select ${COLUMNS} from ${from} where d.id = ? and d.deleted_at is null and ${vis.sql}`, [...fromParams, id, ...vis.params]);
      return row ? toRecord(row) : undefined;
    },

    /** The version an idempotency key of ReindexDocument started, if any. */
    async versionByKey(id: string, key: string): Promise<number | undefined> {
      const [row] = await run<{ version: number }[]>('select version from ingest.versions where document_id = ? and idempotency_key = ?', [id, key]);
      return row?.version;
    },

    /** Unfinished versions a schedule started (before a delete drops them: they report failed). */
    async unfinishedScheduled(id: string): Promise<ScheduledRow[]> {
      return run<ScheduledRow[]>(
        `select version, schedule_id, schedule_run_id, started_at from ingest.versions where document_id = ? and schedule_id is not null and status in ('queued', 'parsing', 'chunking', 'embedding', 'indexing') order by version`,
        [id],
      );
    },

    /** The document if `v` may change it (its owner, or documents:admin), locked for the transaction. */
    async lockWritable(id: string, v: Visibility): Promise<DocumentRecord | undefined> {
      const own = v.all ? { sql: 'true', params: [] as unknown[] } : { sql: 'd.owner_id = ?', params: [v.userId] };
      const [row] = await run<DocumentRow[]>(`select ${COLUMNS} from ${FROM} where d.id = ? and d.deleted_at is null and ${own.sql} for update of d`, [id, ...own.params]);
      return row ? toRecord(row) : undefined;
    },

    async list(v: Visibility, f: ListFilter): Promise<{ items: DocumentRecord[]; total: number }> {
      const vis = visible(v);
      const where = ['d.deleted_at is null', vis.sql];
      const params: unknown[] = [...vis.params];
      if (f.status) {
        where.push('v.status = ?');
        params.push(f.status);
      }
      if (f.tags.length > 0) {
        where.push('d.tags @> ?::text[]');
        params.push(textArray(f.tags));
      }
      if (f.ownerId !== undefined) {
        where.push('d.owner_id = ?');
        params.push(f.ownerId);
      }
      const sql = where.join(' and ');
      const [count] = await run<{ n: string }[]>(`select count(*)::text as n from ${FROM} where ${sql}`, params);
      const rows = await run<DocumentRow[]>(`select ${COLUMNS} from ${FROM} where ${sql} order by d.created_at desc, d.id limit ? offset ?`, [...params, f.limit, f.offset]);
      return { items: rows.map(toRecord), total: Number(count?.n ?? 0) };
    },

    /** Serialises uploads of the same content by the same owner until the transaction ends. */
    async lockContent(ownerId: string, sha256: string): Promise<void> {
      await run('select pg_advisory_xact_lock(hashtext(?))', [`ingest.content:${ownerId}:${sha256}`]);
    },

    async findSameContent(ownerId: string, sha256: string): Promise<string | undefined> {
      const [row] = await run<{ id: string }[]>('select id from ingest.documents where owner_id = ? and sha256 = ? and deleted_at is null order by created_at limit 1', [ownerId, sha256]);
      return row?.id;
    },

    async insert(d: NewDocument, now: Date): Promise<void> {
      await run(
        `insert into ingest.documents (id, owner_id, title, tags, is_public, shared_roles, filename, format, mime_type, size_bytes, sha256, blob_store, blob_key, created_at, updated_at)
         values (?, ?, ?, ?::text[], ?, ?::text[], ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [d.id, d.ownerId, d.title, textArray(d.tags), d.isPublic, textArray(d.sharedRoles), d.filename, d.format, d.mimeType, d.sizeBytes, d.sha256, d.blobStore, d.blobKey, now, now],
      );
      await run('insert into ingest.versions (document_id, version, created_at, updated_at) values (?, 1, ?, ?)', [d.id, now, now]);
    },

    /** Applies `change` with the next access_seq; returns that seq. */
    async updateAccess(id: string, change: AccessChange, now: Date): Promise<bigint> {
      const sets: string[] = [];
      const params: unknown[] = [];
      const set = (column: string, value: unknown) => {
        sets.push(column);
        params.push(value);
      };
      if (change.title !== undefined) set('title = ?', change.title);
      if (change.tags !== undefined) set('tags = ?::text[]', textArray(change.tags));
      if (change.isPublic !== undefined) set('is_public = ?', change.isPublic);
      if (change.sharedRoles !== undefined) set('shared_roles = ?::text[]', textArray(change.sharedRoles));
      const [row] = await run<{ seq: string }[]>(`update ingest.documents set ${[...sets, 'access_seq = access_seq + 1', 'updated_at = ?'].join(', ')} where id = ? returning access_seq::text as seq`, [
        ...params,
        now,
        id,
      ]);
      return BigInt(row!.seq);
    },

    /** Marks the document deleted and drops its pipeline state (versions, parsed blocks, chunks cascade). */
    async softDelete(id: string, now: Date): Promise<void> {
      await run('update ingest.documents set deleted_at = ?, updated_at = ? where id = ?', [now, now, id]);
      await run('delete from ingest.versions where document_id = ?', [id]);
    },

    /**
     * Starts version `current + 1`: earlier versions still in the pipeline are
     * superseded (their jobs then change nothing) and what they made is
     * dropped; returns the new version and the superseded ones a schedule
     * started (they report failed).
     */
    async startVersion(id: string, current: number, now: Date, origin: VersionOrigin = {}): Promise<{ version: number; superseded: ScheduledRow[] }> {
      const next = current + 1;
      const superseded = await run<(ScheduledRow & { schedule_id: string | null })[]>(
        `update ingest.versions set status = 'superseded', updated_at = ?, finished_at = ? where document_id = ? and status not in ('ready', 'failed', 'superseded')
         returning version, schedule_id, schedule_run_id, started_at`,
        [now, now, id],
      );
      await run('delete from ingest.parsed_parts where document_id = ?', [id]);
      await run('delete from ingest.chunks where document_id = ?', [id]);
      await run('insert into ingest.versions (document_id, version, created_at, updated_at, idempotency_key, schedule_id, schedule_run_id) values (?, ?, ?, ?, ?, ?, ?)', [
        id,
        next,
        now,
        now,
        origin.idempotencyKey ?? null,
        origin.scheduleId ?? null,
        origin.scheduleRunId ?? null,
      ]);
      await run('update ingest.documents set current_version = ?, updated_at = ? where id = ?', [next, now, id]);
      return { version: next, superseded: superseded.filter((r): r is ScheduledRow => r.schedule_id !== null) };
    },
  };
}

export type DocumentQueries = ReturnType<typeof createQueries>;

export interface DocumentRepository extends DocumentQueries {
  /** Runs `work` in one transaction, with queries bound to it. */
  transaction<T>(work: (tx: DocumentQueries) => Promise<T>): Promise<T>;
}

export function createDocumentRepository(em: EntityManager): DocumentRepository {
  return { ...createQueries(em), transaction: (work) => em.transactional((tx) => work(createQueries(tx as EntityManager))) };
}
