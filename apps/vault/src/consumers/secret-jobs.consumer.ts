import { fromBinary } from '@bufbuild/protobuf';
import { RotateSecretJobSchema, type RotateSecretJob } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { PermanentMessageError, type DurableConsumerSpec, type JsMsg, type MessageHandler, type Subjects } from '@csda/service-kit';
import { RotationFailure, type RotationEngine, type RotationRequest } from '../rotation/rotation.engine.ts';

/** The vault's durable on JOBS_SECRETS (its name is fixed by the NATS permissions). */
export const SECRET_JOBS_DURABLE = 'vault-secret-jobs';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SecretJobsSettings {
  readonly backoffMs: readonly number[];
  readonly ackWaitMs: number;
}

/** Attempts = back-off entries + 1; then the job is dead-lettered. */
export function secretJobsSpec(subjects: Subjects, settings: SecretJobsSettings): DurableConsumerSpec {
  return {
    stream: subjects.stream('JOBS_SECRETS'),
    durable: SECRET_JOBS_DURABLE,
    filterSubject: subjects.subject('csda.jobs.secrets.>'),
    maxDeliver: settings.backoffMs.length + 1,
    ackWaitMs: settings.ackWaitMs,
    backoffMs: settings.backoffMs,
  };
}

/**
 * The consumer as JetStream keeps it. Retry delays are the worker's own
 * nak(delay); a server-side BackOff list would replace ack_wait by its first
 * entry, so a crashed worker's job would come back after the retry delay
 * rather than after the ack wait.
 */
export const consumerConfigSpec = (spec: DurableConsumerSpec): DurableConsumerSpec => ({ ...spec, backoffMs: [] });

function decode(msg: JsMsg): RotateSecretJob {
  let job: RotateSecretJob;
  try {
    job = fromBinary(RotateSecretJobSchema, msg.data);
  } catch (err) {
    throw new PermanentMessageError('undecodable RotateSecretJob', { cause: err });
  }
  if (!job.jobId || job.jobId.length > 256 || !UUID.test(job.secretId) || job.expectedVersion < 0) throw new PermanentMessageError('RotateSecretJob without a job id, a secret id or a valid expected version');
  return job;
}

/**
 * Handles one RotateSecretJob through the rotation engine. Transient
 * failures record a `retrying` result and throw (the consumer naks with the
 * back-off); the last attempt records `dead` and marks the secret failed
 * before the consumer dead-letters it; permanent failures record `failed`
 * and are dead-lettered at once. The ack follows the commit.
 */
export function createSecretJobHandler(deps: { engine: Pick<RotationEngine, 'rotate' | 'recordFailure'>; spec: DurableConsumerSpec }): MessageHandler {
  const { spec } = deps;
  return async (msg, log) => {
    const job = decode(msg);
    const attempt = msg.info.deliveryCount;
    const acting = job.actingFor?.userId ? job.actingFor : undefined;
    const req: RotationRequest = {
      secretId: job.secretId.toLowerCase(),
      actor: { id: 'service:scheduler', name: 'scheduler' },
      ...(job.expectedVersion > 0 ? { expectedVersion: job.expectedVersion } : {}),
      ...(acting ? { requireOwner: acting.userId, onBehalfOf: acting.userId } : {}),
      trigger: job.scheduleId || job.jobId.startsWith('schedule:') ? 'schedule' : job.jobId.startsWith('rotate:') ? 'due' : 'on_demand',
      job: { jobId: job.jobId, attempt, maxAttempts: spec.maxDeliver, startedAt: new Date(), scheduleId: job.scheduleId, scheduleRunId: job.scheduleRunId },
    };
    // A long call (webhook timeout, slow database) must not look like a crashed worker.
    const heartbeat = setInterval(() => msg.working(), Math.max(1_000, Math.floor(spec.ackWaitMs / 3)));
    try {
      const outcome = await deps.engine.rotate(req);
      if (outcome.kind === 'skipped') log.info({ job_id: job.jobId, secret_id: req.secretId, reason: outcome.reason }, 'rotation job skipped');
      else log.info({ job_id: job.jobId, secret_id: req.secretId, version: outcome.version }, 'secret rotated');
    } catch (err) {
      const failure = err instanceof RotationFailure ? err : new RotationFailure('internal error during rotation', true, { cause: err });
      if (!failure.transient) {
        await deps.engine.recordFailure(req, failure, 'failed');
        throw new PermanentMessageError(failure.message, { cause: err });
      }
      if (attempt >= spec.maxDeliver) {
        await deps.engine.recordFailure(req, failure, 'dead');
        throw failure;
      }
      const delay = spec.backoffMs[attempt - 1] ?? spec.backoffMs.at(-1) ?? 1_000;
      await deps.engine.recordFailure(req, failure, 'retrying', new Date(Date.now() + delay));
      throw failure;
    } finally {
      clearInterval(heartbeat);
    }
  };
}
