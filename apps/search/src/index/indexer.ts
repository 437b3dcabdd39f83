import { create } from '@bufbuild/protobuf';
import { DocumentIndexedSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { enqueueOutbox, outboxMessage, PermanentMessageError, resourceChangedMessage, type OutboxRelay, type Subjects } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createIndexRepository, type IndexRepository } from './index.repository.ts';
import { applyTermDelta, TermDelta } from './term-stats.ts';
import { WHOLE_DOCUMENT, type AccessChange, type ChunkBatch, type DocumentDeletion } from './index.types.ts';

export interface IndexerDeps {
  /** A fresh EntityManager (one per unit of work). */
  readonly em: () => EntityManager;
  readonly subjects: Subjects;
  /** The search outbox's relay, kicked after a commit that wrote DocumentIndexed. */
  readonly relay: Pick<OutboxRelay, 'kick'>;
}

export type StageOutcome = 'staged' | 'duplicate' | 'deleted' | 'superseded';
export type CompleteOutcome =
  | { readonly kind: 'incomplete'; readonly received: number; readonly of: number }
  | { readonly kind: 'promoted'; readonly chunkCount: number }
  | { readonly kind: 'stale' };

/**
 * The index's state changes, each in its own transaction; safe to run
 * concurrently across replicas and in any order:
 * - stage: a batch's rows land as staging rows (under a share lock on the
 *   document, so batches of one document are written side by side);
 * - complete: under the document's exclusive lock, the version becomes live
 *   once all its batches are staged (and DocumentIndexed goes to the outbox);
 * - delete: a tombstone that removes and keeps out versions up to it;
 * - changeAccess: the newest access facts (by access_seq) win.
 */
export function createIndexer(deps: IndexerDeps) {
  const inTransaction = <T>(work: (repo: IndexRepository, em: EntityManager) => Promise<T>): Promise<T> =>
    deps.em().transactional((em) => work(createIndexRepository(em as EntityManager), em as EntityManager));
  const ensureDocument = (documentId: string) => inTransaction((repo) => repo.ensureDocument(documentId));
  // Published once the index holds the change (not when document-ingest announced it): the gateway's cached results end here.
  const indexChanged = (documentId: string, change: 'access' | 'deleted') => resourceChangedMessage(deps.subjects, 'search', { resourceType: 'index', resourceId: documentId, change });

  return {
    async stage(b: ChunkBatch): Promise<StageOutcome> {
      await ensureDocument(b.documentId);
      return inTransaction(async (repo) => {
        const doc = await repo.lockDocument(b.documentId, 'share');
        if (doc.deletedThrough !== null && b.version <= doc.deletedThrough) return 'deleted';
        if (doc.liveVersion !== null && b.version <= doc.liveVersion) return 'superseded';
        const v = await repo.registerVersion(b);
        if (v.batch_count !== b.batchCount || v.total_chunks !== b.totalChunks || v.model !== b.model || v.dims !== b.dims) {
          throw new PermanentMessageError(
            `batch ${b.batchIndex} of document ${b.documentId} v${b.version} declares batch_count ${b.batchCount}, total_chunks ${b.totalChunks}, ` +
              `model ${b.model}, dimensions ${b.dims}; the version's first batch declared ${v.batch_count}, ${v.total_chunks}, ${v.model}, ${v.dims}`,
          );
        }
        if (!(await repo.recordBatch(b))) return 'duplicate';
        // Rows carry the newest access facts known (the batch's, when newer than the document's: applied in complete()).
        await repo.insertStaged(b, b.access.accessSeq > doc.access.accessSeq ? b.access : doc.access);
        return 'staged';
      });
    },

    async complete(b: ChunkBatch): Promise<CompleteOutcome> {
      const outcome = await inTransaction(async (repo, em): Promise<CompleteOutcome | { kind: 'inconsistent'; chunks: number; total: number }> => {
        let doc = await repo.lockDocument(b.documentId, 'update');
        // A title change's statistics go with the swap's, in one ordered pass over the terms (no lock-order inversion).
        const terms = new TermDelta();
        const settle = async () => {
          if (!terms.empty) await applyTermDelta(repo.run, terms);
        };
        if (b.access.accessSeq > doc.access.accessSeq) {
          await repo.applyAccess(doc, b.access, terms);
          doc = { ...doc, access: b.access };
        }
        const v = await repo.version(b.documentId, b.version);
        const superseded = (doc.deletedThrough !== null && b.version <= doc.deletedThrough) || (doc.liveVersion !== null && b.version <= doc.liveVersion);
        if (!v || superseded) {
          await settle();
          return { kind: 'stale' };
        }
        const progress = await repo.batchProgress(b.documentId, b.version);
        if (progress.batches < v.batch_count) {
          await settle();
          return { kind: 'incomplete', received: progress.batches, of: v.batch_count };
        }
        if (progress.chunks !== v.total_chunks) {
          await settle();
          await repo.discardStaged(b.documentId, b.version);
          return { kind: 'inconsistent', chunks: progress.chunks, total: v.total_chunks };
        }
        const chunkCount = await repo.promote(doc, b.version, v, terms);
        const event = create(DocumentIndexedSchema, {
          eventId: `indexed:${b.documentId}:${b.version}`,
          documentId: b.documentId,
          version: b.version,
          chunkCount,
          model: v.model,
          dimensions: v.dims,
          occurredAtMs: BigInt(Date.now()),
        });
        const subject = deps.subjects.subject('csda.events.search.document.indexed');
        await enqueueOutbox(em, 'search', [outboxMessage(subject, DocumentIndexedSchema, event, { eventId: event.eventId, aggregate: `document:${b.documentId}` })]);
        return { kind: 'promoted', chunkCount };
      });
      if (outcome.kind === 'inconsistent') {
        throw new PermanentMessageError(
          `document ${b.documentId} v${b.version}: its ${b.batchCount} batches hold ${outcome.chunks} chunks, total_chunks says ${outcome.total}; the staged version was discarded`,
        );
      }
      if (outcome.kind === 'promoted') deps.relay.kick();
      return outcome;
    },

    /** Returns false when an equal or wider tombstone was already there. */
    async delete(d: DocumentDeletion): Promise<{ applied: boolean; removedLive: boolean }> {
      const through = d.version ?? WHOLE_DOCUMENT;
      await ensureDocument(d.documentId);
      const outcome = await inTransaction(async (repo, em) => {
        const doc = await repo.lockDocument(d.documentId, 'update');
        if (doc.deletedThrough !== null && doc.deletedThrough >= through) return { applied: false, removedLive: false };
        const removed = await repo.deleteThrough(doc, through);
        await enqueueOutbox(em, 'search', [indexChanged(d.documentId, 'deleted')]);
        return { applied: true, ...removed };
      });
      if (outcome.applied) deps.relay.kick();
      return outcome;
    },

    /** Returns false when the facts are not newer than those held (access_seq). */
    async changeAccess(c: AccessChange): Promise<boolean> {
      await ensureDocument(c.documentId);
      const applied = await inTransaction(async (repo, em) => {
        const doc = await repo.lockDocument(c.documentId, 'update');
        if (c.access.accessSeq <= doc.access.accessSeq) return false;
        await repo.applyAccess(doc, c.access);
        await enqueueOutbox(em, 'search', [indexChanged(c.documentId, 'access')]);
        return true;
      });
      if (applied) deps.relay.kick();
      return applied;
    },

    /** Removes staged versions none of whose batches arrived within `maxAgeMs`; returns how many. */
    async sweepAbandoned(maxAgeMs: number): Promise<number> {
      const versions = await inTransaction((repo) => repo.abandonedVersions(maxAgeMs, 100));
      for (const { document_id: documentId, version } of versions) {
        await inTransaction(async (repo) => {
          await repo.lockDocument(documentId, 'update');
          await repo.discardStaged(documentId, version);
        });
      }
      return versions.length;
    },
  };
}

export type Indexer = ReturnType<typeof createIndexer>;
