import { create, toBinary } from '@bufbuild/protobuf';
import { RotateSecretJobSchema } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { publishPayload, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SchedulerMetrics } from '../metrics.ts';
import type { JobTrigger } from './job.entity.ts';
import { createJobRepository, type NewJob } from './job.repository.ts';

/** One rotation to enqueue on JOBS_SECRETS. */
export interface RotationJobRequest {
  /** `rotate:<secret id>:<due at ms>` (due rotations) or `schedule:<schedule id>:<scheduled for ms>`; also the Nats-Msg-Id. */
  jobId: string;
  secretId: string;
  /** The version the rotation replaces: a secret already past it makes the job a no-op. */
  expectedVersion: number;
  dueAtMs: number;
  ownerId: string;
  trigger: JobTrigger;
  actingFor?: { userId: string; username: string; roles: string[] };
  scheduleId?: string;
  scheduleRunId?: string;
}

export interface EnqueueOutcome {
  /** Job records created by this call (others already existed). */
  readonly created: number;
  /** Messages accepted by JetStream (a repeat of an id inside the day's window is dropped there). */
  readonly published: number;
  /** Publishes that failed: their records stay queued and the next sweep publishes them. */
  readonly failed: number;
}

export const ROTATE_SUBJECT = 'csda.jobs.secrets.rotate';
const ROTATE_TYPE = RotateSecretJobSchema.typeName;

export interface JobQueueDeps {
  readonly runtime: Pick<ServiceRuntime, 'orm' | 'nats' | 'logger'>;
  /** Publishes awaiting their ack at once (default 256). */
  readonly publishConcurrency?: number;
  readonly metrics?: Pick<SchedulerMetrics, 'enqueued'>;
}

/**
 * The scheduler's side of JOBS_SECRETS: a job is recorded (queued) before its
 * message is published with its id as Nats-Msg-Id, so any number of replicas,
 * overlapping runs or repeated scans produce each job once (the record's
 * primary key here, the stream's 24 h de-duplication there).
 */
export function createJobQueue(deps: JobQueueDeps) {
  const { orm, nats, logger } = deps.runtime;
  const concurrency = deps.publishConcurrency ?? 256;
  const subject = nats.subjects.subject(ROTATE_SUBJECT);
  const fork = () => orm.em.fork() as EntityManager;

  /** Publishes many at once (bounded), returning the ids JetStream acknowledged. */
  async function publishAll(messages: readonly { id: string; payload: Uint8Array }[]): Promise<{ ok: string[]; failed: number; firstError?: unknown }> {
    const ok: string[] = [];
    let failed = 0;
    let firstError: unknown;
    let next = 0;
    const worker = async () => {
      while (next < messages.length) {
        const m = messages[next++]!;
        try {
          await publishPayload(nats, subject, m.payload, { eventId: m.id, eventType: ROTATE_TYPE });
          ok.push(m.id);
        } catch (err) {
          failed++;
          firstError ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
    return { ok, failed, firstError };
  }

  async function publishAndMark(em: EntityManager, messages: readonly { id: string; payload: Uint8Array }[]): Promise<{ published: number; failed: number }> {
    if (messages.length === 0) return { published: 0, failed: 0 };
    const { ok, failed, firstError } = await publishAll(messages);
    if (failed > 0) logger.warn({ err: firstError, failed, published: ok.length }, 'rotation job publishes failed; their records stay queued for the next sweep');
    await createJobRepository(em).markPublished(ok);
    return { published: ok.length, failed };
  }

  return {
    /**
     * Records the jobs (queued; an id already recorded is kept as it is) and
     * publishes those not yet published. With `em` the records are written in
     * its transaction: call this last before committing (a rollback after the
     * publish leaves a message whose result still creates the record).
     */
    async enqueueRotations(jobs: readonly RotationJobRequest[], em?: EntityManager): Promise<EnqueueOutcome> {
      const unique = [...new Map(jobs.map((j) => [j.jobId, j])).values()];
      if (unique.length === 0) return { created: 0, published: 0, failed: 0 };
      const enqueuedAtMs = BigInt(Date.now());
      const records: NewJob[] = unique.map((j) => ({
        id: j.jobId,
        type: 'rotate_secret',
        resourceType: 'secret',
        resourceId: j.secretId,
        ownerId: j.ownerId,
        trigger: j.trigger,
        scheduleId: j.scheduleId,
        scheduleRunId: j.scheduleRunId,
        payload: toBinary(
          RotateSecretJobSchema,
          create(RotateSecretJobSchema, {
            jobId: j.jobId,
            secretId: j.secretId,
            expectedVersion: j.expectedVersion,
            dueAtMs: BigInt(j.dueAtMs),
            enqueuedAtMs,
            actingFor: j.actingFor,
            scheduleId: j.scheduleId ?? '',
            scheduleRunId: j.scheduleRunId ?? '',
          }),
        ),
      }));
      const target = em ?? fork();
      const { created, toPublish } = await createJobRepository(target).insertQueued(records);
      const { published, failed } = await publishAndMark(
        target,
        records.filter((r) => toPublish.has(r.id)),
      );
      deps.metrics?.enqueued('rotate_secret', created, failed);
      return { created, published, failed };
    },

    /** Publishes queued jobs whose publish failed earlier (recorded over `olderThanMs` ago). */
    async republishUnpublished(olderThanMs = 30_000, limit = 1_000): Promise<{ published: number; failed: number }> {
      const em = fork();
      const outcome = await publishAndMark(em, await createJobRepository(em).unpublished(olderThanMs, limit));
      deps.metrics?.enqueued('rotate_secret', 0, outcome.failed);
      return outcome;
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;
