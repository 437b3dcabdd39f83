import { create, toBinary } from '@bufbuild/protobuf';
import { RotateSecretJobSchema } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { PermanentMessageError, Subjects, createLogger, type JsMsg } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { RotationFailure, type RotationRequest } from '../rotation/rotation.engine.ts';
import { createSecretJobHandler, secretJobsSpec } from './secret-jobs.consumer.ts';

const spec = secretJobsSpec(new Subjects('t'), { backoffMs: [60_000, 300_000], ackWaitMs: 120_000 });
const logger = createLogger({ service: 'test', level: 'silent' });
const SECRET = '3f1c9a52-5d7e-4a53-9a8e-2b1c0d9e8f7a';
const msg = (deliveryCount: number, job = create(RotateSecretJobSchema, { jobId: `rotate:${SECRET}:1`, secretId: SECRET, expectedVersion: 3 })) =>
  ({ data: toBinary(RotateSecretJobSchema, job), info: { deliveryCount }, working: () => undefined }) as unknown as JsMsg;

function engine(outcome: () => Promise<never> | Promise<{ kind: 'skipped'; reason: string }>) {
  const failures: { status: string | undefined; nextAttemptAt?: Date; req: RotationRequest }[] = [];
  const requests: RotationRequest[] = [];
  return {
    failures,
    requests,
    engine: {
      rotate: (req: RotationRequest) => (requests.push(req), outcome()),
      recordFailure: async (req: RotationRequest, _err: unknown, status: 'retrying' | 'failed' | 'dead' | undefined, nextAttemptAt?: Date) => void failures.push({ status, nextAttemptAt, req }),
    },
  };
}

describe('secret jobs handler', () => {
  it('has one more delivery than back-off entries', () => {
    expect(spec).toMatchObject({ durable: 'vault-secret-jobs', stream: 't_JOBS_SECRETS', filterSubject: 't.csda.jobs.secrets.>', maxDeliver: 3 });
  });

  it('passes the job to the engine: expected version, attempt, trigger, acting-for owner', async () => {
    const e = engine(async () => ({ kind: 'skipped', reason: 'x' }));
    const handler = createSecretJobHandler({ engine: e.engine, spec });
    await handler(msg(2), logger);
    await handler(msg(1, create(RotateSecretJobSchema, { jobId: 'schedule:s:1', secretId: SECRET.toUpperCase(), scheduleId: 's', actingFor: { userId: 'u1', username: 'u' } })), logger);
    expect(e.requests[0]).toMatchObject({ secretId: SECRET, expectedVersion: 3, trigger: 'due', job: { attempt: 2, maxAttempts: 3 } });
    expect(e.requests[0]).not.toHaveProperty('requireOwner');
    expect(e.requests[1]).toMatchObject({ secretId: SECRET, trigger: 'schedule', requireOwner: 'u1', onBehalfOf: 'u1', job: { scheduleId: 's' } });
    expect(e.requests[1]).not.toHaveProperty('expectedVersion');
  });

  it('records retrying with the next attempt time, then dead on the last delivery; permanent failures at once', async () => {
    const transient = engine(() => Promise.reject(new RotationFailure('webhook answered HTTP 500', true)));
    const handler = createSecretJobHandler({ engine: transient.engine, spec });
    const before = Date.now();
    await expect(handler(msg(1), logger)).rejects.toBeInstanceOf(RotationFailure);
    await expect(handler(msg(2), logger)).rejects.toBeInstanceOf(RotationFailure);
    await expect(handler(msg(3), logger)).rejects.toBeInstanceOf(RotationFailure);
    expect(transient.failures.map((f) => f.status)).toEqual(['retrying', 'retrying', 'dead']);
    expect(transient.failures[0]!.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before + 60_000);
    expect(transient.failures[1]!.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before + 300_000);

    const permanent = engine(() => Promise.reject(new RotationFailure('manual rotation: the owner must put the new value', false)));
    await expect(createSecretJobHandler({ engine: permanent.engine, spec })(msg(1), logger)).rejects.toBeInstanceOf(PermanentMessageError);
    expect(permanent.failures.map((f) => f.status)).toEqual(['failed']);

    // Anything unexpected (database away) is transient.
    const odd = engine(() => Promise.reject(new Error('connection terminated')));
    await expect(createSecretJobHandler({ engine: odd.engine, spec })(msg(1), logger)).rejects.toBeInstanceOf(RotationFailure);
    expect(odd.failures.map((f) => f.status)).toEqual(['retrying']);
  });

  it('rejects undecodable and incomplete jobs as permanent', async () => {
    const e = engine(async () => ({ kind: 'skipped', reason: 'x' }));
    const handler = createSecretJobHandler({ engine: e.engine, spec });
    await expect(handler({ data: new Uint8Array([0xff, 0xff]), info: { deliveryCount: 1 } } as unknown as JsMsg, logger)).rejects.toBeInstanceOf(PermanentMessageError);
    await expect(handler(msg(1, create(RotateSecretJobSchema, { jobId: 'x', secretId: 'not-a-uuid' })), logger)).rejects.toBeInstanceOf(PermanentMessageError);
    await expect(handler(msg(1, create(RotateSecretJobSchema, { secretId: SECRET })), logger)).rejects.toBeInstanceOf(PermanentMessageError);
    expect(e.requests).toHaveLength(0);
  });
});
