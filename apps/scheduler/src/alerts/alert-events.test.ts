import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { SecretExpiredSchema, SecretExpiringSchema, SecretRotatedSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { describe, expect, it } from 'vitest';
import { alertForEvent, rotationDueAlert } from './alert-events.ts';

const DAY = 86_400_000;
const jobResult = (fields: MessageInitShape<typeof JobResultSchema>) =>
  toBinary(
    JobResultSchema,
    create(JobResultSchema, { eventId: 'e', jobId: 'rotate:s-1:1000', jobType: 'rotate_secret', resourceType: 'secret', resourceId: 's-1', ownerId: 'u-1', attempt: 3, ...fields }),
  );

describe('alertForEvent', () => {
  it('raises rotation_failed (critical) for failed and dead rotation jobs, once per job', () => {
    const dead = alertForEvent(JobResultSchema.typeName, jobResult({ status: 'dead', error: 'connection refused' }));
    expect(dead).toEqual({
      dedupeKey: 'rotation_failed:rotate:s-1:1000',
      kind: 'rotation_failed',
      severity: 'critical',
      ownerId: 'u-1',
      resourceType: 'secret',
      resourceId: 's-1',
      message: 'Rotation of secret s-1 failed after 3 attempts: connection refused',
    });
    const failed = alertForEvent(JobResultSchema.typeName, jobResult({ status: 'failed', error: 'permission denied', attempt: 1 }));
    expect(failed).toMatchObject({ dedupeKey: dead!.dedupeKey, message: 'Rotation of secret s-1 failed: permission denied' });
  });

  it('raises nothing for other statuses, other job types, or results missing who and what', () => {
    for (const status of ['running', 'succeeded', 'retrying', '']) expect(alertForEvent(JobResultSchema.typeName, jobResult({ status }))).toBeUndefined();
    expect(alertForEvent(JobResultSchema.typeName, jobResult({ status: 'dead', jobType: 'run_tool' }))).toBeUndefined();
    expect(alertForEvent(JobResultSchema.typeName, jobResult({ status: 'dead', ownerId: '' }))).toBeUndefined();
    expect(alertForEvent(JobResultSchema.typeName, jobResult({ status: 'dead', jobId: '' }))).toBeUndefined();
  });

  it('caps a long error in the message', () => {
    const a = alertForEvent(JobResultSchema.typeName, jobResult({ status: 'dead', error: 'x'.repeat(5000) }));
    expect(a!.message.length).toBe(1000);
    expect(a!.message.endsWith('…')).toBe(true);
  });

  it('raises secret_expiring (warning) naming the secret and the days left, once per threshold and expiry', () => {
    const expiresAtMs = BigInt(Date.UTC(2027, 0, 15));
    const payload = toBinary(
      SecretExpiringSchema,
      create(SecretExpiringSchema, { eventId: 'e', secretId: 's-2', ownerId: 'u-2', name: 'db "prod"', expiresAtMs, thresholdDays: 14, occurredAtMs: expiresAtMs - BigInt(13.5 * DAY) }),
    );
    expect(alertForEvent(SecretExpiringSchema.typeName, payload)).toEqual({
      dedupeKey: `secret_expiring:s-2:14:${expiresAtMs}`,
      kind: 'secret_expiring',
      severity: 'warning',
      ownerId: 'u-2',
      resourceType: 'secret',
      resourceId: 's-2',
      message: 'Secret "db \\"prod\\"" expires in 14 days (2027-01-15T00:00:00.000Z)',
    });
    const lastDay = toBinary(SecretExpiringSchema, create(SecretExpiringSchema, { secretId: 's-2', ownerId: 'u-2', name: 'k', expiresAtMs, thresholdDays: 1, occurredAtMs: expiresAtMs - 3_600_000n }));
    expect(alertForEvent(SecretExpiringSchema.typeName, lastDay)?.message).toContain('expires in 1 day (');
  });

  it('raises secret_expired (critical) once per expiry', () => {
    const payload = toBinary(SecretExpiredSchema, create(SecretExpiredSchema, { eventId: 'e', secretId: 's-3', ownerId: 'u-3', name: 'api-key', expiresAtMs: 1_700_000_000_000n }));
    expect(alertForEvent(SecretExpiredSchema.typeName, payload)).toMatchObject({
      dedupeKey: 'secret_expired:s-3:1700000000000',
      kind: 'secret_expired',
      severity: 'critical',
      message: 'Secret "api-key" expired at 2023-11-14T22:13:20.000Z and was deactivated',
    });
  });

  it('ignores other event types and throws on a payload that is not protobuf', () => {
    const rotated = toBinary(SecretRotatedSchema, create(SecretRotatedSchema, { secretId: 's', ownerId: 'u', version: 2 }));
    expect(alertForEvent(SecretRotatedSchema.typeName, rotated)).toBeUndefined();
    expect(alertForEvent('csda.events.v1.Unknown', new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(() => alertForEvent(JobResultSchema.typeName, new Uint8Array([0xff, 0xff, 0xff]))).toThrow();
  });
});

describe('rotationDueAlert', () => {
  it('is a warning keyed by secret and due instant', () => {
    expect(rotationDueAlert({ secretId: 's-4', ownerId: 'u-4', name: 'manual-key', dueAtMs: 1_700_000_000_000 })).toEqual({
      dedupeKey: 'rotation_due:s-4:1700000000000',
      kind: 'rotation_due',
      severity: 'warning',
      ownerId: 'u-4',
      resourceType: 'secret',
      resourceId: 's-4',
      message: 'Secret "manual-key" is due for rotation since 2023-11-14T22:13:20.000Z: put a new value to rotate it',
    });
  });
});
