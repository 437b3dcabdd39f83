import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type CallOptions } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import { describeConnectError, ExternalServiceError, ValidationError, type DescribedError } from '@csda/errors';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { slotKey } from './run-tool.target.ts';
import { TargetUnavailableError, UUID, type Owner, type TargetDefinition, type TargetDeps } from './target.types.ts';

export interface ReindexDocumentData {
  document_id: string;
}

/** What the owner must hold for the scheduler to act for them on a document: reindex it, and read it and its status. */
const NEEDED = ['documents:write', 'documents:read'] as const;

/** Envelope codes that mean "document-ingest could not answer now": the loop keeps the slot and retries. */
const RETRIED: ReadonlySet<string> = new Set(['EXTERNAL_SERVICE_ERROR', 'INTERNAL_ERROR', 'DATABASE_ERROR']);
/** A version out of the pipeline. */
const FINISHED_STATUSES: ReadonlySet<string> = new Set(['ready', 'failed']);
const MAX_DETAIL = 1_000;
const NOT_YOURS = 'no such document, or not one you own';

function permissionProblem(owner: Owner): string | undefined {
  const missing = NEEDED.filter((p) => !owner.permissions.includes(p));
  return missing.length > 0 ? `reindexing a document on a schedule needs ${missing.join(' and ')}` : undefined;
}

/** The scheduler acting for the owner, allowed exactly this document: reindex it, read it and its status. */
const asOwner = (deps: TargetDeps, owner: Owner, documentId: string, grants: readonly Permission[]): Promise<CallOptions> =>
  deps.asUser(
    { id: owner.id, name: owner.name, roles: [...owner.roles] },
    grants.map((g) => [g, documentId] as const),
    'document-ingest',
  );

/** e.g. `document-ingest refused: document … not found (NOT_FOUND)`, bounded. */
export function describeIngestRefusal(d: DescribedError): string {
  const fields = Object.entries(d.details).map(([k, v]) => `${k}: ${v}`);
  const text = `document-ingest refused: ${d.message} (${[d.code, ...fields].join('; ')})`;
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

/** A Connect failure of document-ingest: a refusal to record, or TargetUnavailableError (the slot is retried). */
function classify(err: unknown): DescribedError {
  if (!(err instanceof ConnectError)) throw err;
  const described = describeConnectError(err);
  if (RETRIED.has(described.code)) throw new TargetUnavailableError(`document-ingest did not answer (${Code[err.code] ?? 'error'})`, err);
  return described;
}

/** The run's job id: the document and the version the run queued, e.g. `<document id>:v3`. */
export const versionJobId = (documentId: string, version: number) => `${documentId}:v${version}`;

function parseVersionJobId(jobId: string): { documentId: string; version: number } | undefined {
  const m = /^([0-9a-f-]{36}):v(\d+)$/.exec(jobId);
  return m ? { documentId: m[1]!, version: Number(m[2]) } : undefined;
}

/**
 * reindex_document: run a document's pipeline again from its stored original
 * (ReindexDocument, keyed by the slot) as the schedule's owner, who must own
 * it. The run records `<document id>:v<version>` as its job id and the new
 * version and its status in its detail; document-ingest reports that version
 * as JobResults under the same job id (running when its parse starts, then
 * succeeded or failed), folded into a job record, so the run ends with it.
 * Until the first of them the overlap policy asks document-ingest whether the
 * version is still in the pipeline.
 */
export const reindexDocument: TargetDefinition<ReindexDocumentData, 'reindexDocument'> = {
  protoCase: 'reindexDocument',
  fromProto(value) {
    const documentId = value.documentId.trim().toLowerCase();
    if (!UUID.test(documentId)) throw new ValidationError('Invalid target', { 'target.document_id': 'a document id (UUID)' });
    return { document_id: documentId };
  },
  toProto(data) {
    return create(ScheduleTargetSchema, { kind: { case: 'reindexDocument', value: { documentId: data.document_id } } });
  },
  parseStored(json) {
    const { document_id: documentId } = (json ?? {}) as { document_id?: unknown };
    if (typeof documentId !== 'string') throw new TypeError('stored reindex_document target without document_id');
    return { document_id: documentId };
  },
  async authorize(deps, owner, data) {
    const problem = permissionProblem(owner);
    if (problem) throw new ValidationError('Invalid target', { 'target.document_id': problem });
    let ownerId: string | undefined;
    try {
      const { document } = await deps.documents.getDocument({ id: data.document_id }, await asOwner(deps, owner, data.document_id, ['documents:read']));
      ownerId = document?.ownerId;
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : undefined;
      if (code === Code.NotFound || code === Code.PermissionDenied) throw new ValidationError('Invalid target', { 'target.document_id': NOT_YOURS });
      throw new ExternalServiceError('document-ingest', err);
    }
    // Readable (public, shared) is not enough: ReindexDocument for a user acting through the scheduler is the owner's alone.
    if (ownerId !== owner.id) throw new ValidationError('Invalid target', { 'target.document_id': NOT_YOURS });
  },
  async fire(deps, ctx, data) {
    const problem = permissionProblem(ctx.owner);
    if (problem) return { status: 'failed', detail: `document ${data.document_id}: the owner no longer may reindex it (${problem})` };
    let status: { version: number; status: string } | undefined;
    try {
      const options = await asOwner(deps, ctx.owner, data.document_id, ['documents:write', 'documents:read']);
      // The key names the slot: a retry of this slot (its first attempt's commit failed or timed out) gets the same version back.
      const request = { id: data.document_id, idempotencyKey: slotKey(ctx.scheduleId, ctx.scheduledFor), scheduleId: ctx.scheduleId, scheduleRunId: ctx.runId };
      const { document } = await deps.documents.reindexDocument(request, options);
      if (document?.status) status = { version: document.status.version, status: document.status.status };
    } catch (err) {
      return { status: 'failed', detail: `document ${data.document_id}: ${describeIngestRefusal(classify(err))}` };
    }
    if (!status) return { status: 'failed', detail: `document ${data.document_id}: document-ingest answered without the document's status` };
    return { status: 'queued', jobId: versionJobId(data.document_id, status.version), detail: `document ${data.document_id}: version ${status.version} ${status.status}` };
  },
  async running(deps, owner, data, jobId) {
    const job = parseVersionJobId(jobId);
    // An owner who may no longer read the document has nothing running that the overlap policy should wait for; fire records why.
    if (!job || permissionProblem(owner)) return undefined;
    try {
      // The run's document: the target may have been changed to another since.
      const { status } = await deps.documents.getDocumentStatus({ id: job.documentId }, await asOwner(deps, owner, job.documentId, ['documents:read']));
      // A later version (a reindex by hand) replaced the run's: that one is not this schedule's work.
      if (!status || status.version !== job.version || FINISHED_STATUSES.has(status.status)) return undefined;
      return `document ${job.documentId} version ${job.version} is ${status.status}`;
    } catch (err) {
      // Gone, or no longer the owner's: nothing of theirs is running. Anything else: classify throws.
      classify(err);
      return undefined;
    }
  },
};
