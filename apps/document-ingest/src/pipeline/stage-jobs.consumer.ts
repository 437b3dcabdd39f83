import { fromBinary } from '@bufbuild/protobuf';
import { DocumentStageJobSchema } from '@csda/proto/csda/ingest/v1/document_jobs_pb.js';
import { PermanentMessageError, type DurableConsumerSpec, type JsMsg, type MessageHandler, type Subjects } from '@csda/service-kit';
import { STAGE_STATUS, STAGES, type Stage } from '../documents/document.types.ts';
import { classifyFailure } from './failures.ts';
import type { PipelineRepository, StageContext } from './pipeline.repository.ts';
import type { Stages } from './stages.ts';

/** document-ingest's durable on JOBS_DOCUMENTS (the name nats-permissions.ts grants it). */
export const DOCUMENT_JOBS_DURABLE = 'document-ingest-document-jobs';
const BACKOFF_MS: readonly number[] = [2_000, 10_000, 30_000, 60_000, 120_000, 300_000];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Retry delays are the handler's own nak(delay): a server-side BackOff list
 * would replace ack_wait by its first entry, and a long stage would be
 * redelivered while it still runs (`consumerConfig` drops it for the server).
 */
export function documentJobsSpec(subjects: Subjects, ackWaitMs: number, maxAttempts: number): DurableConsumerSpec {
  return {
    stream: subjects.stream('JOBS_DOCUMENTS'),
    durable: DOCUMENT_JOBS_DURABLE,
    filterSubject: subjects.subject('csda.jobs.documents.>'),
    maxDeliver: maxAttempts,
    ackWaitMs,
    backoffMs: BACKOFF_MS.slice(0, Math.max(1, maxAttempts - 1)),
  };
}

export const consumerConfig = (spec: DurableConsumerSpec): DurableConsumerSpec => ({ ...spec, backoffMs: [] });

export function decodeStageJob(data: Uint8Array): { documentId: string; version: number; stage: Stage } {
  let job;
  try {
    job = fromBinary(DocumentStageJobSchema, data);
  } catch (err) {
    throw new PermanentMessageError('undecodable DocumentStageJob', { cause: err });
  }
  if (!UUID.test(job.documentId)) throw new PermanentMessageError('DocumentStageJob without a valid document_id');
  if (!Number.isInteger(job.version) || job.version < 1) throw new PermanentMessageError(`DocumentStageJob version ${job.version} is not >= 1`);
  if (!(STAGES as readonly string[]).includes(job.stage)) throw new PermanentMessageError(`DocumentStageJob stage ${JSON.stringify(job.stage.slice(0, 20))} is not one of ${STAGES.join(', ')}`);
  return { documentId: job.documentId.toLowerCase(), version: job.version, stage: job.stage as Stage };
}

/** True when the version is at `stage` (a job for a stage it passed, or a finished version, changes nothing). */
export function isAt(ctx: StageContext, stage: Stage): boolean {
  if (stage === 'parse') return ctx.status === 'queued' || ctx.status === 'parsing';
  return ctx.status === STAGE_STATUS[stage] && !(stage === 'index' && ctx.publishedAt !== null);
}

/** Tells JetStream (and the stall sweep) that the stage is still working while `work` runs. */
async function withHeartbeat<T>(msg: JsMsg, ackWaitMs: number, beat: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => {
    msg.working();
    void beat().catch(() => undefined);
  }, Math.max(500, Math.floor(ackWaitMs / 3)));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export interface StageHandlerDeps {
  readonly repo: PipelineRepository;
  readonly stages: Pick<Stages, 'run'>;
  readonly ackWaitMs: number;
  readonly maxAttempts: number;
  /** Aborted when the replica stops: running stages end and their jobs come back. */
  readonly stopping: AbortSignal;
  readonly kick: () => void;
}

/**
 * One DocumentStageJob. The document fails (and stays listed with the
 * reason) when the file is what is wrong, or when the stage failed on its
 * last allowed delivery — then the job is dead-lettered too. Otherwise a
 * failure is shown with the status and the job comes back after a delay.
 */
export function createStageHandler(deps: StageHandlerDeps): MessageHandler {
  return async (msg, log) => {
    const { documentId, version, stage } = decodeStageJob(msg.data);
    const ids = { document_id: documentId, version, stage };
    const ctx = await deps.repo.context(documentId, version);
    if (!ctx || !isAt(ctx, stage)) {
      log.debug({ ...ids, status: ctx?.status ?? 'deleted' }, 'stage job for a version not at that stage: nothing to do');
      return;
    }
    const attempt = msg.info.deliveryCount;
    if (!(await deps.repo.begin(documentId, version, stage, attempt))) return;
    deps.kick();
    await withHeartbeat(msg, deps.ackWaitMs, () => deps.repo.progress(documentId, version), async () => {
      try {
        await deps.stages.run(stage, ctx, deps.stopping);
        log.info({ ...ids, attempt }, 'stage done');
      } catch (err) {
        if (deps.stopping.aborted) throw err; // the replica stops: the job comes back, nothing failed
        const failure = classifyFailure(err);
        if (failure.permanent) {
          if (await deps.repo.fail(documentId, version, stage, failure.reason)) deps.kick();
          log.info({ ...ids, reason: failure.reason }, 'document failed');
          return;
        }
        if (attempt >= deps.maxAttempts) {
          if (await deps.repo.fail(documentId, version, stage, `${failure.reason} (gave up after ${attempt} attempts)`)) deps.kick();
          throw err;
        }
        await deps.repo.retrying(documentId, version, failure.reason).catch(() => undefined);
        throw err;
      }
    });
  };
}
