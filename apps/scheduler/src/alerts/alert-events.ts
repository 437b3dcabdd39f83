import { fromBinary } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { SecretExpiredSchema, SecretExpiringSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import type { AlertInput } from './alert.types.ts';

const DAY_MS = 86_400_000;
const MAX_MESSAGE = 1000;

const iso = (ms: bigint | number) => new Date(Number(ms)).toISOString();
const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text);
// Names are validated by the vault; quoting keeps a name readable in a sentence whatever it holds.
const quoted = (name: string, fallback: string) => JSON.stringify(name || fallback);
const days = (n: number) => (n === 1 ? '1 day' : `${n} days`);

/**
 * The alert an event raises, or undefined when it raises none (other event
 * types, job results that are not final failures of a rotation, events
 * missing the fields an alert needs). `eventType` is the Csda-Event-Type
 * header; a payload that is not valid protobuf throws (the consumer
 * terminates that message).
 */
export function alertForEvent(eventType: string, payload: Uint8Array): AlertInput | undefined {
  switch (eventType) {
    case JobResultSchema.typeName: {
      const r = fromBinary(JobResultSchema, payload);
      if (r.jobType !== 'rotate_secret' || (r.status !== 'failed' && r.status !== 'dead') || !r.jobId || !r.ownerId || !r.resourceId) return undefined;
      const why = r.error ? `: ${r.error}` : '';
      const when = r.status === 'dead' ? ` after ${r.attempt} attempt${r.attempt === 1 ? '' : 's'}` : '';
      return {
        dedupeKey: `rotation_failed:${r.jobId}`,
        kind: 'rotation_failed',
        severity: 'critical',
        ownerId: r.ownerId,
        resourceType: r.resourceType || 'secret',
        resourceId: r.resourceId,
        message: clip(`Rotation of secret ${r.resourceId} failed${when}${why}`),
      };
    }
    case SecretExpiringSchema.typeName: {
      const e = fromBinary(SecretExpiringSchema, payload);
      if (!e.secretId || !e.ownerId || e.expiresAtMs <= 0n) return undefined;
      const left = e.occurredAtMs > 0n ? Math.max(1, Math.ceil(Number(e.expiresAtMs - e.occurredAtMs) / DAY_MS)) : e.thresholdDays;
      return {
        dedupeKey: `secret_expiring:${e.secretId}:${e.thresholdDays}:${e.expiresAtMs}`,
        kind: 'secret_expiring',
        severity: 'warning',
        ownerId: e.ownerId,
        resourceType: 'secret',
        resourceId: e.secretId,
        message: clip(`Secret ${quoted(e.name, e.secretId)} expires in ${days(left)} (${iso(e.expiresAtMs)})`),
      };
    }
    case SecretExpiredSchema.typeName: {
      const e = fromBinary(SecretExpiredSchema, payload);
      if (!e.secretId || !e.ownerId || e.expiresAtMs <= 0n) return undefined;
      return {
        dedupeKey: `secret_expired:${e.secretId}:${e.expiresAtMs}`,
        kind: 'secret_expired',
        severity: 'critical',
        ownerId: e.ownerId,
        resourceType: 'secret',
        resourceId: e.secretId,
        message: clip(`Secret ${quoted(e.name, e.secretId)} expired at ${iso(e.expiresAtMs)} and was deactivated`),
      };
    }
    default:
      return undefined;
  }
}

/** A `manual` secret whose rotation is due, as the scheduler's due scan finds it. */
export interface DueRotation {
  readonly secretId: string;
  readonly ownerId: string;
  readonly name: string;
  readonly dueAtMs: number;
}

/** The rotation_due alert for a due `manual` secret: once per secret and due instant. */
export function rotationDueAlert(due: DueRotation): AlertInput {
  return {
    dedupeKey: `rotation_due:${due.secretId}:${due.dueAtMs}`,
    kind: 'rotation_due',
    severity: 'warning',
    ownerId: due.ownerId,
    resourceType: 'secret',
    resourceId: due.secretId,
    message: clip(`Secret ${quoted(due.name, due.secretId)} is due for rotation since ${iso(due.dueAtMs)}: put a new value to rotate it`),
  };
}
