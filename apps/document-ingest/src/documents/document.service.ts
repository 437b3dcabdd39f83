import { randomUUID } from 'node:crypto';
import { AuthorizationError, NotFoundError, ValidationError } from '@csda/errors';
import { hasPermission, requireScoped, subjectOf, type Principal } from '@csda/auth';
import type { AuditFact, AuditOutbox, Logger, Subjects } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BlobStore, BlobStoreKind } from '../blobs/blob-store.ts';
import { accessChanged, documentChanged, documentDeleted, reindexJobResult, stageJob } from '../pipeline/messages.ts';
import type { AccessChange, DocumentRepository, ScheduledRow } from './document.repository.ts';
import { MIME_TYPES, type DocumentRecord, type Visibility } from './document.types.ts';
import { checkDocumentId, checkFilename, checkPaging, checkRoles, checkStatusFilter, checkTags, checkTitle, defaultTitle } from './document.validation.ts';
import { enqueue } from './sql.ts';
import { storeUpload } from './upload-intake.ts';

export interface UploadInput {
  readonly filename: string;
  readonly title: string;
  readonly tags: readonly string[];
  readonly isPublic: boolean;
  readonly sharedWithRoles: readonly string[];
  readonly allowDuplicate: boolean;
}

export interface UpdateInput {
  readonly title?: string;
  readonly tags?: readonly string[];
  readonly isPublic?: boolean;
  readonly sharedWithRoles?: readonly string[];
}

export interface DocumentServiceDeps {
  readonly repository: () => DocumentRepository;
  /** Where new originals go, and the store an existing document names. */
  readonly blobs: { readonly current: BlobStore; readonly of: (kind: BlobStoreKind) => BlobStore };
  readonly audit: Pick<AuditOutbox, 'write' | 'kick'>;
  readonly subjects: Subjects;
  readonly maxBytes: number;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

const SELF = 'document-ingest';

/** ReindexDocument's optional fields beyond the id. */
export interface ReindexOptions {
  readonly idempotencyKey?: string;
  readonly scheduleId?: string;
  readonly scheduleRunId?: string;
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,200}$/;
const SCHEDULE_REF = /^[A-Za-z0-9-]{1,100}$/;
/** The only caller that may tie a reindex to a schedule: the scheduler acting for the user. */
const SCHEDULER = 'service:scheduler';

/** Checks the options; a schedule reference from anyone but the scheduler acting for a user is refused. */
function checkReindexOptions(p: Principal, o: ReindexOptions): ReindexOptions {
  const details: Record<string, string> = {};
  if (o.idempotencyKey && !IDEMPOTENCY_KEY.test(o.idempotencyKey)) details.idempotency_key = '1-200 characters of A-Z a-z 0-9 . _ : -';
  if (o.scheduleId && !SCHEDULE_REF.test(o.scheduleId)) details.schedule_id = '1-100 characters of A-Z a-z 0-9 -';
  if (o.scheduleRunId && !SCHEDULE_REF.test(o.scheduleRunId)) details.schedule_run_id = '1-100 characters of A-Z a-z 0-9 -';
  if (o.scheduleRunId && !o.scheduleId) details.schedule_id = 'required with schedule_run_id';
  if (Object.keys(details).length > 0) throw new ValidationError('Invalid reindex options', details);
  if (o.scheduleId && !(p.kind === 'service' && p.id === SCHEDULER && p.onBehalfOf)) throw new AuthorizationError('Only the scheduler acting for a user may set schedule_id');
  return { idempotencyKey: o.idempotencyKey || undefined, scheduleId: o.scheduleId || undefined, scheduleRunId: o.scheduleRunId || undefined };
}

export const visibilityOf = (p: Principal): Visibility => ({ userId: subjectOf(p).id, roles: subjectOf(p).roles, all: !p.onBehalfOf && hasPermission(p, 'documents:admin') });

/** An audit fact of this service; a service acting for a user (the scheduler) is named as the caller, never as the actor. */
function auditFact(p: Principal, action: string, documentId: string, details: Record<string, string>): AuditFact {
  const service = p.kind === 'service';
  return {
    action,
    actor: service ? `service:${SELF}` : p.id,
    actorName: service ? SELF : p.name,
    resourceType: 'document',
    resourceId: documentId,
    details: { ...details, ...(service ? { caller: p.id } : {}), ...(p.onBehalfOf ? { on_behalf_of: p.onBehalfOf.id } : {}) },
  };
}

/** JobResult failed for versions a schedule started that end unfinished (replaced, or dropped with their document). */
function scheduledEndedWith(subjects: Subjects) {
  return (documentId: string, ownerId: string, rows: readonly ScheduledRow[], why: string) =>
    rows.map((r) =>
      reindexJobResult(
        subjects,
        {
          documentId,
          version: r.version,
          ownerId,
          scheduleId: r.schedule_id,
          scheduleRunId: r.schedule_run_id ?? '',
          startedAt: r.started_at === null ? null : new Date(r.started_at),
          finishedAt: new Date(),
        },
        'failed',
        { detail: `document ${documentId} version ${r.version} failed`, error: why },
      ),
    );
}

/**
 * Documents as their owners and readers see them: upload, visibility,
 * access changes, deletion and reindex; no transport, no SQL. Every change
 * commits with its audit record and the events or jobs it implies.
 */
export function createDocumentService(deps: DocumentServiceDeps) {
  const clock = deps.clock ?? (() => new Date());
  const scheduledEnded = scheduledEndedWith(deps.subjects);

  async function visible(p: Principal, id: string): Promise<DocumentRecord> {
    const doc = await deps.repository().findVisible(id, visibilityOf(p));
    if (!doc) throw new NotFoundError('document', id);
    return doc;
  }

  /** Runs `work` on the document `p` may change, locked, then commits and kicks the relay. */
  async function change<T>(p: Principal, id: string, work: (tx: Parameters<Parameters<DocumentRepository['transaction']>[0]>[0], doc: DocumentRecord) => Promise<T>): Promise<T> {
    const result = await deps.repository().transaction(async (tx) => {
      const doc = await tx.lockWritable(id, visibilityOf(p));
      if (!doc) throw new NotFoundError('document', id);
      return work(tx, doc);
    });
    deps.audit.kick();
    return result;
  }

  return {
    async upload(p: Principal, input: UploadInput, bytes: AsyncIterable<Uint8Array>): Promise<{ document: DocumentRecord; duplicate: boolean }> {
      requireScoped(p, 'documents:write');
      const filename = checkFilename(input.filename);
      const title = input.title.trim() === '' ? defaultTitle(filename) : checkTitle(input.title);
      const tags = checkTags(input.tags);
      const sharedRoles = checkRoles(input.sharedWithRoles);
      const ownerId = subjectOf(p).id;
      const key = randomUUID();
      const store = deps.blobs.current;
      const stored = await storeUpload(bytes, { filename, maxBytes: deps.maxBytes, store, key });
      const id = randomUUID();
      let existing: string | undefined;
      try {
        await deps.repository().transaction(async (tx) => {
          await tx.lockContent(ownerId, stored.sha256);
          existing = input.allowDuplicate ? undefined : await tx.findSameContent(ownerId, stored.sha256);
          if (existing) return;
          const doc = { id, ownerId, title, tags, isPublic: input.isPublic, sharedRoles, filename, format: stored.format, mimeType: MIME_TYPES[stored.format], sizeBytes: stored.sizeBytes, sha256: stored.sha256, blobStore: store.kind, blobKey: key };
          await tx.insert(doc, clock());
          await enqueue(tx.em, [stageJob(deps.subjects, id, 1, 'parse'), documentChanged(deps.subjects, id, 'created', ownerId)]);
          await deps.audit.write(tx.em as EntityManager, [
            auditFact(p, 'document_uploaded', id, { format: stored.format, size_bytes: String(stored.sizeBytes), sha256: stored.sha256, is_public: String(input.isPublic) }),
          ]);
        });
      } catch (err) {
        await store.delete(key).catch((e: unknown) => deps.logger.warn({ err: e, blob: key }, 'could not remove the original of a failed upload'));
        throw err;
      }
      if (existing) {
        await store.delete(key).catch((e: unknown) => deps.logger.warn({ err: e, blob: key }, 'could not remove the copy of a duplicate upload'));
        return { document: await visible(p, existing), duplicate: true };
      }
      deps.audit.kick();
      return { document: await visible(p, id), duplicate: false };
    },

    async get(p: Principal, rawId: string): Promise<DocumentRecord> {
      const id = checkDocumentId(rawId);
      requireScoped(p, 'documents:read', id);
      return visible(p, id);
    },

    async list(p: Principal, filter: { limit: number; offset: number; status: string; tags: readonly string[]; ownerId: string }) {
      requireScoped(p, 'documents:read');
      const vis = visibilityOf(p);
      if (filter.ownerId !== '' && !vis.all) throw new AuthorizationError('Filtering by owner requires documents:admin');
      return deps.repository().list(vis, {
        status: checkStatusFilter(filter.status),
        tags: checkTags(filter.tags),
        ...(filter.ownerId !== '' ? { ownerId: filter.ownerId } : {}),
        ...checkPaging(filter.limit, filter.offset),
      });
    },

    async update(p: Principal, rawId: string, input: UpdateInput): Promise<DocumentRecord> {
      const id = checkDocumentId(rawId);
      requireScoped(p, 'documents:write', id);
      const wanted: AccessChange = {
        ...(input.title !== undefined ? { title: checkTitle(input.title) } : {}),
        ...(input.tags !== undefined ? { tags: checkTags(input.tags) } : {}),
        ...(input.isPublic !== undefined ? { isPublic: input.isPublic } : {}),
        ...(input.sharedWithRoles !== undefined ? { sharedRoles: checkRoles(input.sharedWithRoles) } : {}),
      };
      await change(p, id, async (tx, doc) => {
        const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
        const changed = Object.keys(wanted).filter((k) => {
          if (k === 'title') return wanted.title !== doc.title;
          if (k === 'tags') return !same(wanted.tags!, doc.tags);
          if (k === 'isPublic') return wanted.isPublic !== doc.isPublic;
          return !same(wanted.sharedRoles!, doc.sharedRoles);
        });
        if (changed.length === 0) return;
        const seq = await tx.updateAccess(id, wanted, clock());
        const facts = { ownerId: doc.ownerId, title: wanted.title ?? doc.title, tags: wanted.tags ?? doc.tags, isPublic: wanted.isPublic ?? doc.isPublic, sharedRoles: wanted.sharedRoles ?? doc.sharedRoles, accessSeq: seq };
        await enqueue(tx.em, [accessChanged(deps.subjects, id, facts), documentChanged(deps.subjects, id, 'updated', doc.ownerId)]);
        await deps.audit.write(tx.em as EntityManager, [auditFact(p, 'document_updated', id, { changed: changed.join(','), access_seq: String(seq), is_public: String(facts.isPublic) })]);
      });
      return visible(p, id);
    },

    async remove(p: Principal, rawId: string): Promise<void> {
      const id = checkDocumentId(rawId);
      requireScoped(p, 'documents:write', id);
      const doc = await change(p, id, async (tx, d) => {
        const scheduled = await tx.unfinishedScheduled(id);
        await tx.softDelete(id, clock());
        await enqueue(tx.em, [
          documentDeleted(deps.subjects, id),
          documentChanged(deps.subjects, id, 'deleted', d.ownerId),
          ...scheduledEnded(id, d.ownerId, scheduled, 'the document was deleted before this version was ready'),
        ]);
        await deps.audit.write(tx.em as EntityManager, [auditFact(p, 'document_deleted', id, { owner_id: d.ownerId, sha256: d.sha256 })]);
        return d;
      });
      // After the commit: a failure leaves an unreferenced original, never a document without one.
      await deps.blobs
        .of(doc.blobStore)
        .delete(doc.blobKey)
        .catch((err: unknown) => deps.logger.error({ err, document_id: id, blob: doc.blobKey }, 'the deleted document\'s original could not be removed'));
    },

    /**
     * A new version from the stored original. With an idempotency key, a
     * repeat starts nothing and answers the version the key started (with
     * that version's state). A schedule's version reports JobResults.
     */
    async reindex(p: Principal, rawId: string, options: ReindexOptions = {}): Promise<DocumentRecord> {
      const id = checkDocumentId(rawId);
      requireScoped(p, 'documents:write', id);
      const origin = checkReindexOptions(p, options);
      const version = await change(p, id, async (tx, doc) => {
        const earlier = origin.idempotencyKey ? await tx.versionByKey(id, origin.idempotencyKey) : undefined;
        if (earlier !== undefined) return earlier;
        const started = await tx.startVersion(id, doc.currentVersion, clock(), origin);
        await enqueue(tx.em, [
          stageJob(deps.subjects, id, started.version, 'parse'),
          documentChanged(deps.subjects, id, 'status', doc.ownerId),
          ...scheduledEnded(id, doc.ownerId, started.superseded, `replaced by version ${started.version} (a reindex) before it was ready`),
        ]);
        await deps.audit.write(tx.em as EntityManager, [
          auditFact(p, 'document_reindexed', id, { version: String(started.version), previous_status: doc.state.status, ...(origin.scheduleId ? { schedule_id: origin.scheduleId } : {}) }),
        ]);
        return started.version;
      });
      const doc = await deps.repository().findVisible(id, visibilityOf(p), version);
      if (!doc) throw new NotFoundError('document', id);
      return doc;
    },

    /** The original, for its owner only (others, even readers of a public document, get NOT_FOUND). */
    async content(p: Principal, rawId: string): Promise<{ document: DocumentRecord; bytes: AsyncIterable<Uint8Array> }> {
      const id = checkDocumentId(rawId);
      requireScoped(p, 'documents:read', id);
      const doc = await visible(p, id);
      if (doc.ownerId !== subjectOf(p).id) throw new NotFoundError('document', id);
      return { document: doc, bytes: deps.blobs.of(doc.blobStore).read(doc.blobKey) };
    },
  };
}

export type DocumentService = ReturnType<typeof createDocumentService>;
