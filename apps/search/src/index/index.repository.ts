import type { EntityManager } from '@mikro-orm/postgresql';
import { WHOLE_DOCUMENT, type AccessFacts, type ChunkBatch, type DocumentState } from './index.types.ts';
import { applyTermDelta, collectTerms, TermDelta, type Run } from './term-stats.ts';

// The only place that writes search.documents, versions, version_batches,
// chunks and passages. Every function runs in the caller's transaction.

interface DocumentRow {
  document_id: string;
  live_version: number | null;
  owner_id: string;
  is_public: boolean;
  shared_roles: string[];
  tags: string[];
  title: string;
  access_seq: string;
  deleted_through: number | null;
}

export interface VersionRow {
  batch_count: number;
  total_chunks: number;
  model: string;
  dims: number;
}

/** A PostgreSQL text[] literal (MikroORM inlines parameters: arrays go as literals). */
export const textArray = (values: readonly string[]) => `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;

const toState = (r: DocumentRow): DocumentState => ({
  documentId: r.document_id,
  liveVersion: r.live_version,
  deletedThrough: r.deleted_through,
  access: { ownerId: r.owner_id, isPublic: r.is_public, sharedRoles: r.shared_roles, tags: r.tags, title: r.title, accessSeq: BigInt(r.access_seq) },
});

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

export function createIndexRepository(em: EntityManager) {
  const run: Run = (sql, params = []) => em.getConnection().execute(sql, [...params], 'all', em.getTransactionContext()) as never;

  // The live chunks of a document (collectTerms conditions over alias c).
  const LIVE = 'c.document_id = ? and c.live';

  return {
    run,

    /** Creates the document's row (no access facts yet, access_seq -1) if missing; call in its own short transaction. */
    async ensureDocument(documentId: string): Promise<void> {
      await run('insert into search.documents (document_id) values (?) on conflict do nothing', [documentId]);
    },

    /**
     * The document's row, locked: `share` while a batch is staged (batches of
     * one document are written side by side), `update` for everything that
     * changes what is live or its access.
     */
    async lockDocument(documentId: string, mode: 'share' | 'update'): Promise<DocumentState> {
      const [row] = await run<DocumentRow>(
        `select document_id, live_version, owner_id, is_public, shared_roles, tags, title, access_seq::text, deleted_through
         from search.documents where document_id = ? for ${mode === 'share' ? 'share' : 'update'}`,
        [documentId],
      );
      if (!row) throw new Error(`search.documents has no row for ${documentId} (ensureDocument first)`);
      return toState(row);
    },

    /** The version's shape as its first batch declared it (recorded then). */
    async registerVersion(b: ChunkBatch): Promise<VersionRow> {
      await run('insert into search.versions (document_id, version, batch_count, total_chunks, model, dims) values (?, ?, ?, ?, ?, ?) on conflict do nothing', [
        b.documentId, b.version, b.batchCount, b.totalChunks, b.model, b.dims,
      ]);
      const [row] = await run<VersionRow>('select batch_count, total_chunks, model, dims from search.versions where document_id = ? and version = ?', [b.documentId, b.version]);
      if (!row) throw new Error(`search.versions row of ${b.documentId} v${b.version} vanished`);
      return row;
    },

    /** Records the batch as received; false when it already was (a duplicate or redelivery). */
    async recordBatch(b: ChunkBatch): Promise<boolean> {
      const rows = await run('insert into search.version_batches (document_id, version, batch_index, chunk_count) values (?, ?, ?, ?) on conflict do nothing returning 1', [
        b.documentId, b.version, b.batchIndex, b.chunks.length,
      ]);
      return rows.length === 1;
    },

    /** Writes the batch's chunks and passages as staging rows (not live), with `access` on every row. */
    async insertStaged(b: ChunkBatch, access: AccessFacts): Promise<void> {
      if (b.chunks.length === 0) return;
      const a = [access.ownerId, access.isPublic, textArray(access.sharedRoles), textArray(access.tags)];
      const chunks = b.chunks.map((c) => ({ id: c.id, chunk_index: c.chunkIndex, content: c.content, heading_path: c.headingPath, page_start: c.pageStart, page_end: c.pageEnd }));
      await run(
        `insert into search.chunks (id, document_id, version, chunk_index, content, heading_path, page_start, page_end, live, owner_id, is_public, shared_roles, tags, title, model)
         select x.id, ?, ?, x.chunk_index, x.content, coalesce(x.heading_path, '{}'), x.page_start, x.page_end, false, ?, ?, ?::text[], ?::text[], ?, ?
         from json_to_recordset(?::json) as x(id uuid, chunk_index integer, content text, heading_path text[], page_start integer, page_end integer)`,
        [b.documentId, b.version, ...a, access.title, b.model, JSON.stringify(chunks)],
      );
      const passages = b.chunks.flatMap((c) => c.passages.map((embedding, i) => ({ chunk_id: c.id, passage_index: i, embedding })));
      await run(
        `insert into search.passages (chunk_id, passage_index, document_id, version, live, owner_id, is_public, shared_roles, tags, model, dims, embedding)
         select x.chunk_id, x.passage_index, ?, ?, false, ?, ?, ?::text[], ?::text[], ?, ?, x.embedding::vector
         from json_to_recordset(?::json) as x(chunk_id uuid, passage_index integer, embedding text)`,
        [b.documentId, b.version, ...a, b.model, b.dims, JSON.stringify(passages)],
      );
    },

    async batchProgress(documentId: string, version: number): Promise<{ batches: number; chunks: number }> {
      const [row] = await run<{ batches: number; chunks: number }>(
        'select count(*)::int as batches, coalesce(sum(chunk_count), 0)::int as chunks from search.version_batches where document_id = ? and version = ?',
        [documentId, version],
      );
      return row ?? { batches: 0, chunks: 0 };
    },

    async version(documentId: string, version: number): Promise<VersionRow | undefined> {
      const [row] = await run<VersionRow>('select batch_count, total_chunks, model, dims from search.versions where document_id = ? and version = ?', [documentId, version]);
      return row;
    },

    /**
     * New access facts for the document and every row of it (live and staged).
     * A new title changes the live chunks' tsvector, so BM25 statistics follow:
     * into `pending` when given (the caller applies it with its own change, one
     * ordered pass over the terms per transaction), else applied here.
     */
    async applyAccess(doc: DocumentState, access: AccessFacts, pending?: TermDelta): Promise<void> {
      const titleChanged = doc.access.title !== access.title;
      const delta = pending ?? new TermDelta();
      if (titleChanged && doc.liveVersion !== null) await collectTerms(run, delta, LIVE, [doc.documentId], -1);
      const roles = textArray(access.sharedRoles);
      const tags = textArray(access.tags);
      await run('update search.documents set owner_id = ?, is_public = ?, shared_roles = ?::text[], tags = ?::text[], title = ?, access_seq = ?, updated_at = now() where document_id = ?', [
        access.ownerId, access.isPublic, roles, tags, access.title, access.accessSeq.toString(), doc.documentId,
      ]);
      const same = doc.access.ownerId === access.ownerId && doc.access.isPublic === access.isPublic && sameList(doc.access.sharedRoles, access.sharedRoles) && sameList(doc.access.tags, access.tags);
      if (!same || titleChanged) {
        // Only rows that differ are written (staged rows were copied from older facts, or the same).
        await run(
          `update search.chunks set owner_id = ?, is_public = ?, shared_roles = ?::text[], tags = ?::text[], title = ?
           where document_id = ? and (owner_id, is_public, shared_roles, tags, title) is distinct from (?, ?, ?::text[], ?::text[], ?)`,
          [access.ownerId, access.isPublic, roles, tags, access.title, doc.documentId, access.ownerId, access.isPublic, roles, tags, access.title],
        );
      }
      if (!same) {
        await run(
          `update search.passages set owner_id = ?, is_public = ?, shared_roles = ?::text[], tags = ?::text[]
           where document_id = ? and (owner_id, is_public, shared_roles, tags) is distinct from (?, ?, ?::text[], ?::text[])`,
          [access.ownerId, access.isPublic, roles, tags, doc.documentId, access.ownerId, access.isPublic, roles, tags],
        );
      }
      if (titleChanged && doc.liveVersion !== null) {
        await collectTerms(run, delta, LIVE, [doc.documentId], 1);
        if (!pending) await applyTermDelta(run, delta);
      }
    },

    /**
     * Makes `version` (all its batches staged) the live one: its rows become
     * live, every older version's rows are deleted, BM25 statistics follow.
     * `pending` holds statistics changes of the same transaction not yet
     * applied. Returns the live chunk count.
     */
    async promote(doc: DocumentState, version: number, v: VersionRow, pending = new TermDelta()): Promise<number> {
      const id = doc.documentId;
      await run('update search.chunks set live = true where document_id = ? and version = ?', [id, version]);
      const [passages] = await run<{ n: number }>('with made as (update search.passages set live = true where document_id = ? and version = ? returning 1) select count(*)::int as n from made', [
        id, version,
      ]);
      const delta = pending;
      await collectTerms(run, delta, `${LIVE} and c.version = ?`, [id, version], 1);
      if (doc.liveVersion !== null) await collectTerms(run, delta, `${LIVE} and c.version < ?`, [id, version], -1);
      await this.deleteVersions(id, version - 1);
      // Its own bookkeeping too: a late copy of one of its batches is dropped as not newer than the live version.
      await run('delete from search.version_batches where document_id = ? and version = ?', [id, version]);
      await run('delete from search.versions where document_id = ? and version = ?', [id, version]);
      await applyTermDelta(run, delta);
      await run('update search.documents set live_version = ?, model = ?, dims = ?, chunk_count = ?, passage_count = ?, indexed_at = now(), updated_at = now() where document_id = ?', [
        version, v.model, v.dims, v.total_chunks, passages?.n ?? 0, id,
      ]);
      return v.total_chunks;
    },

    /**
     * Tombstone: versions up to `through` are deleted and stay deleted; the
     * live one among them leaves the index (and the BM25 statistics).
     */
    async deleteThrough(doc: DocumentState, through: number): Promise<{ removedLive: boolean }> {
      const removedLive = doc.liveVersion !== null && doc.liveVersion <= through;
      const delta = new TermDelta();
      if (removedLive) await collectTerms(run, delta, LIVE, [doc.documentId], -1);
      await this.deleteVersions(doc.documentId, through);
      await applyTermDelta(run, delta);
      await run(
        `update search.documents set deleted_through = greatest(coalesce(deleted_through, 0), ?), updated_at = now(),
           deleted_at = case when ? then coalesce(deleted_at, now()) else deleted_at end,
           live_version = case when ? then null else live_version end, chunk_count = case when ? then 0 else chunk_count end,
           passage_count = case when ? then 0 else passage_count end
         where document_id = ?`,
        [through, removedLive || through === WHOLE_DOCUMENT, removedLive, removedLive, removedLive, doc.documentId],
      );
      return { removedLive };
    },

    /** Removes every row of versions up to `through` (staged or live) and their bookkeeping. */
    async deleteVersions(documentId: string, through: number): Promise<void> {
      await run('delete from search.passages where document_id = ? and version <= ?', [documentId, through]);
      await run('delete from search.chunks where document_id = ? and version <= ?', [documentId, through]);
      await run('delete from search.version_batches where document_id = ? and version <= ?', [documentId, through]);
      await run('delete from search.versions where document_id = ? and version <= ?', [documentId, through]);
    },

    /** Removes the staged rows of one version that will not complete. */
    async discardStaged(documentId: string, version: number): Promise<void> {
      for (const table of ['passages', 'chunks', 'version_batches', 'versions']) {
        await run(`delete from search.${table} where document_id = ? and version = ?${table === 'passages' || table === 'chunks' ? ' and not live' : ''}`, [documentId, version]);
      }
    },

    /** Staged versions none of whose batches arrived within `maxAgeMs`. */
    async abandonedVersions(maxAgeMs: number, limit: number): Promise<{ document_id: string; version: number }[]> {
      return run(
        `select v.document_id, v.version from search.versions v
         where v.created_at < now() - (? || ' milliseconds')::interval
           and not exists (select 1 from search.version_batches b where b.document_id = v.document_id and b.version = v.version and b.received_at >= now() - (? || ' milliseconds')::interval)
         limit ?`,
        [String(maxAgeMs), String(maxAgeMs), limit],
      );
    },
  };
}

export type IndexRepository = ReturnType<typeof createIndexRepository>;
