import { create, toBinary } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { SecretExpiredSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { createLogger, EVENT_TYPE_HEADER, PermanentMessageError, Subjects } from '@csda/service-kit';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { alertForEvent } from '../alerts/alert-events.ts';
import { createEventsHandler, eventWork } from './events.consumer.ts';

const subjects = new Subjects('tns');
const logger = createLogger({ service: 'test', level: 'silent' });
const msg = (subject: string, type: string | undefined, data: Uint8Array) => {
  const h = natsHeaders();
  if (type) h.set(EVENT_TYPE_HEADER, type);
  return { subject: `tns.${subject}`, data, headers: h };
};
const result = (over: Record<string, unknown> = {}) =>
  toBinary(
    JobResultSchema,
    create(JobResultSchema, { eventId: 'e', jobId: 'rotate:s1:1', jobType: 'rotate_secret', resourceType: 'secret', resourceId: 's1', ownerId: 'u1', status: 'dead', attempt: 4, ...over }),
  );
const deps = { subjects, alertForEvent };

describe('eventWork', () => {
  it('folds a JobResult from the vault and raises the alert it implies', () => {
    const work = eventWork(msg('csda.events.vault.job.dead', JobResultSchema.typeName, result()), deps, logger);
    expect(work?.result).toMatchObject({ jobId: 'rotate:s1:1', status: 'dead', attempt: 4 });
    expect(work?.alert).toMatchObject({ kind: 'rotation_failed', dedupeKey: 'rotation_failed:rotate:s1:1' });
    expect(eventWork(msg('csda.events.vault.job.succeeded', JobResultSchema.typeName, result({ status: 'succeeded' })), deps, logger)?.alert).toBeUndefined();
  });

  it('ignores results and alert events from a service that does not own them', () => {
    expect(eventWork(msg('csda.events.gateway.job.dead', JobResultSchema.typeName, result()), deps, logger)).toBeUndefined();
    const expired = toBinary(SecretExpiredSchema, create(SecretExpiredSchema, { secretId: 's1', ownerId: 'u1', expiresAtMs: 5n, name: 'x' }));
    expect(eventWork(msg('csda.events.tools.secret.expired', SecretExpiredSchema.typeName, expired), deps, logger)).toBeUndefined();
    expect(eventWork(msg('csda.events.vault.secret.expired', SecretExpiredSchema.typeName, expired), deps, logger)?.alert?.kind).toBe('secret_expired');
  });

  it('folds a run_tool JobResult only from the tool-runner, raising no alert', () => {
    const run = result({ jobId: '0b7a6f2e-6d51-4d3e-9a43-6b1f0f7c2a10', jobType: 'run_tool', resourceType: 'tool', status: 'failed', attempt: 1, error: 'exited with code 3 (EXIT_CODE)' });
    const work = eventWork(msg('csda.events.tool-runner.job.failed', JobResultSchema.typeName, run), deps, logger);
    expect(work?.result).toMatchObject({ jobType: 'run_tool', status: 'failed', error: 'exited with code 3 (EXIT_CODE)' });
    expect(work?.alert).toBeUndefined();
    expect(eventWork(msg('csda.events.vault.job.failed', JobResultSchema.typeName, run), deps, logger)).toBeUndefined();
    // Nor may the tool-runner report rotations.
    expect(eventWork(msg('csda.events.tool-runner.job.dead', JobResultSchema.typeName, result()), deps, logger)).toBeUndefined();
  });

  it('ignores other event types and messages without a type', () => {
    expect(eventWork(msg('csda.events.document-ingest.x', 'csda.events.v1.DocumentIndexed', new Uint8Array([1, 2])), deps, logger)).toBeUndefined();
    expect(eventWork(msg('csda.events.vault.job.dead', undefined, result()), deps, logger)).toBeUndefined();
  });

  it('dead-letters a payload that is not a valid JobResult or cannot be recorded', () => {
    expect(() => eventWork(msg('csda.events.vault.job.dead', JobResultSchema.typeName, new Uint8Array([0xff, 0xff, 0xff])), deps, logger)).toThrow(PermanentMessageError);
    expect(() => eventWork(msg('csda.events.vault.job.x', JobResultSchema.typeName, result({ status: 'exploded' })), deps, logger)).toThrow(PermanentMessageError);
  });
});

describe('createEventsHandler', () => {
  it('applies concurrent events as one batch, and one by one when the batch fails', async () => {
    const batches: number[] = [];
    let failOnce = true;
    const handler = createEventsHandler({
      ...deps,
      batch: { maxSize: 3, maxWaitMs: 5 },
      apply: async (results) => {
        batches.push(results.length);
        if (failOnce && results.length > 1) {
          failOnce = false;
          throw new Error('deadlock');
        }
      },
    });
    const m = (i: number) => msg('csda.events.vault.job.running', JobResultSchema.typeName, result({ jobId: `j${i}`, status: 'running' }));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await Promise.all([1, 2, 3].map((i) => handler(m(i) as any, logger)));
    expect(batches).toEqual([3, 1, 1, 1]);
  });
});
