import { create } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { DocumentStageJobSchema } from '@csda/proto/csda/ingest/v1/document_jobs_pb.js';
import { DocumentAccessChangedSchema, DocumentAccessSchema, DocumentDeletedSchema, type DocumentAccess } from '@csda/proto/csda/search/v1/index_pb.js';
import { outboxMessage, resourceChangedMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';
import type { AccessFacts, Stage } from '../documents/document.types.ts';

const aggregate = (documentId: string) => `document:${documentId}`;

/** Nats-Msg-Id of a stage job; a re-queue after a stall carries its number, so the stream does not drop it as a duplicate. */
export const stageJobId = (documentId: string, version: number, stage: Stage, requeue = 0) => `stage:${documentId}:${version}:${stage}${requeue > 0 ? `:${requeue}` : ''}`;

/** The DocumentStageJob that runs `stage` of a version (JOBS_DOCUMENTS). */
export function stageJob(subjects: Subjects, documentId: string, version: number, stage: Stage, requeue = 0): OutboxMessage {
  const eventId = stageJobId(documentId, version, stage, requeue);
  const job = create(DocumentStageJobSchema, { eventId, documentId, version, stage, occurredAtMs: BigInt(Date.now()) });
  return outboxMessage(subjects.subject(`csda.jobs.documents.${stage}`), DocumentStageJobSchema, job, { eventId, aggregate: aggregate(documentId) });
}

export function accessMessage(a: AccessFacts): DocumentAccess {
  return create(DocumentAccessSchema, { ownerId: a.ownerId, isPublic: a.isPublic, sharedRoles: [...a.sharedRoles], tags: [...a.tags], title: a.title, accessSeq: a.accessSeq });
}

/** document.access_changed: search applies it when access_seq is newer than what it holds. */
export function accessChanged(subjects: Subjects, documentId: string, access: AccessFacts): OutboxMessage {
  const eventId = `access:${documentId}:${access.accessSeq}`;
  const event = create(DocumentAccessChangedSchema, { eventId, documentId, access: accessMessage(access), occurredAtMs: BigInt(Date.now()) });
  return outboxMessage(subjects.subject('csda.events.document-ingest.document.access_changed'), DocumentAccessChangedSchema, event, { eventId, aggregate: aggregate(documentId) });
}

/** document.deleted for the whole document (version 0): a tombstone in search. */
export function documentDeleted(subjects: Subjects, documentId: string): OutboxMessage {
  const eventId = `deleted:${documentId}:all`;
  const event = create(DocumentDeletedSchema, { eventId, documentId, version: 0, occurredAtMs: BigInt(Date.now()) });
  return outboxMessage(subjects.subject('csda.events.document-ingest.document.deleted'), DocumentDeletedSchema, event, { eventId, aggregate: aggregate(documentId) });
}

/** What a document's ResourceChanged event says happened (proto/csda/events/v1/resource_changed.proto). */
export type DocumentChange = 'created' | 'updated' | 'status' | 'deleted';

/**
 * ResourceChanged on `csda.events.document-ingest.document.changed` for the
 * gateway's cache: ids and the kind of change only. `status` is every status
 * transition of the current version (a reindex's new version queued
 * included). Search's consumer on `document.>` acknowledges it unread.
 */
export function documentChanged(subjects: Subjects, documentId: string, change: DocumentChange, ownerId: string): OutboxMessage {
  return resourceChangedMessage(subjects, 'document-ingest', { resourceType: 'document', resourceId: documentId, change, ownerId });
}

/** A version a schedule started (ReindexDocument with schedule_id): what its JobResults say. */
export interface ScheduledVersion {
  readonly documentId: string;
  readonly version: number;
  readonly ownerId: string;
  readonly scheduleId: string;
  readonly scheduleRunId: string;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** The statuses a scheduled reindex reports: its parse started, then ready or not. */
export type ReindexJobStatus = 'running' | 'succeeded' | 'failed';

/** The scheduler's job id of a scheduled reindex (what its reindex_document target records on the run). */
export const reindexJobId = (documentId: string, version: number) => `${documentId}:v${version}`;

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);

/**
 * The JobResult of a version a schedule started, on
 * `csda.events.document-ingest.job.<status>` (job_type reindex_document, one
 * attempt): the scheduler folds it into the run's job record.
 */
export function reindexJobResult(subjects: Subjects, v: ScheduledVersion, status: ReindexJobStatus, text: { detail: string; error?: string }): OutboxMessage {
  const jobId = reindexJobId(v.documentId, v.version);
  const eventId = `job:${jobId}:1:${status}`;
  const result = create(JobResultSchema, {
    eventId,
    jobId,
    jobType: 'reindex_document',
    resourceType: 'document',
    resourceId: v.documentId,
    ownerId: v.ownerId,
    status,
    attempt: 1,
    maxAttempts: 1,
    error: status === 'failed' ? (text.error ?? 'failed') : '',
    detail: text.detail,
    startedAtMs: ms(v.startedAt),
    finishedAtMs: status === 'running' ? 0n : ms(v.finishedAt ?? new Date()),
    scheduleId: v.scheduleId,
    scheduleRunId: v.scheduleRunId,
  });
  return outboxMessage(subjects.subject(`csda.events.document-ingest.job.${status}`), JobResultSchema, result, { eventId, aggregate: aggregate(v.documentId) });
}
