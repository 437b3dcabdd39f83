import { create } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { SecretExpiredSchema, SecretExpiringSchema, SecretRotatedSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { outboxMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';

/** Subjects the vault publishes its events on (through its outbox). */
export const EVENT_SUBJECTS = {
  rotated: 'csda.events.vault.secret.rotated',
  expiring: 'csda.events.vault.secret.expiring',
  expired: 'csda.events.vault.secret.expired',
  job: (status: JobStatus) => `csda.events.vault.job.${status}`,
} as const;

export type JobStatus = 'running' | 'succeeded' | 'retrying' | 'failed' | 'dead';
export type RotationTrigger = 'due' | 'schedule' | 'on_demand';

/** A job being worked on: what its JobResult events carry. */
export interface JobInfo {
  readonly jobId: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly startedAt: Date;
  readonly scheduleId: string;
  readonly scheduleRunId: string;
}

const ms = (d: Date | null | undefined) => BigInt(d ? d.getTime() : 0);

export function jobResultMessage(
  subjects: Subjects,
  job: JobInfo,
  r: { status: JobStatus; secretId: string; ownerId: string; error?: string; detail?: string; finishedAt?: Date; nextAttemptAt?: Date },
): OutboxMessage {
  const eventId = `${job.jobId}:${job.attempt}:${r.status}`;
  return outboxMessage(
    subjects.subject(EVENT_SUBJECTS.job(r.status)),
    JobResultSchema,
    create(JobResultSchema, {
      eventId,
      jobId: job.jobId,
      jobType: 'rotate_secret',
      resourceType: 'secret',
      resourceId: r.secretId,
      ownerId: r.ownerId,
      status: r.status,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      error: r.error ?? '',
      detail: r.detail ?? '',
      startedAtMs: ms(job.startedAt),
      finishedAtMs: ms(r.finishedAt),
      nextAttemptAtMs: ms(r.nextAttemptAt),
      scheduleId: job.scheduleId,
      scheduleRunId: job.scheduleRunId,
    }),
    { eventId, aggregate: `secret:${r.secretId}` },
  );
}

export function secretRotatedMessage(subjects: Subjects, r: { secretId: string; ownerId: string; version: number; strategy: string; trigger: RotationTrigger; at: Date }): OutboxMessage {
  const eventId = `rotated:${r.secretId}:${r.version}`;
  return outboxMessage(
    subjects.subject(EVENT_SUBJECTS.rotated),
    SecretRotatedSchema,
    create(SecretRotatedSchema, { eventId, secretId: r.secretId, ownerId: r.ownerId, version: r.version, strategy: r.strategy, trigger: r.trigger, occurredAtMs: ms(r.at) }),
    { eventId, aggregate: `secret:${r.secretId}` },
  );
}

export function secretExpiredMessage(subjects: Subjects, r: { id: string; ownerId: string; name: string; expiresAt: Date; at: Date }): OutboxMessage {
  const eventId = `expired:${r.id}:${r.expiresAt.getTime()}`;
  return outboxMessage(
    subjects.subject(EVENT_SUBJECTS.expired),
    SecretExpiredSchema,
    create(SecretExpiredSchema, { eventId, secretId: r.id, ownerId: r.ownerId, name: r.name, expiresAtMs: ms(r.expiresAt), occurredAtMs: ms(r.at) }),
    { eventId, aggregate: `secret:${r.id}` },
  );
}

export function secretExpiringMessage(subjects: Subjects, r: { id: string; ownerId: string; name: string; expiresAt: Date; thresholdDays: number; at: Date }): OutboxMessage {
  const eventId = `expiring:${r.id}:${r.thresholdDays}:${r.expiresAt.getTime()}`;
  return outboxMessage(
    subjects.subject(EVENT_SUBJECTS.expiring),
    SecretExpiringSchema,
    create(SecretExpiringSchema, {
      eventId,
      secretId: r.id,
      ownerId: r.ownerId,
      name: r.name,
      expiresAtMs: ms(r.expiresAt),
      thresholdDays: r.thresholdDays,
      occurredAtMs: ms(r.at),
    }),
    { eventId, aggregate: `secret:${r.id}` },
  );
}
