import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { connectNats, createLogger, ensureConsumer, openDatabase, publishProto, startConsumer, type MikroORM, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, query, repoRoot, runCommand, testNamespace, waitFor, type TestDatabase } from '@csda/testing';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { toBinary } from '@bufbuild/protobuf';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLogRepository } from '../src/audit/audit-log.repository.ts';
import { auditConsumerSpec, createAuditHandler } from '../src/audit/audit.consumer.ts';
import { definition } from '../src/definition.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

describe('AUDIT → identity.audit_log (real NATS and PostgreSQL)', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  let nats: Nats;
  let orm: MikroORM;
  const spec = () => auditConsumerSpec(nats.subjects, 1_000);
  const rows = async (eventId: string) => (await query(db.url, 'select * from identity.audit_log where event_id = $1', [eventId]));
  const event = (id: string) => create(ServiceStartedSchema, { eventId: id, service: 'vault', version: '0.1.0', instance: 'test', occurredAtMs: BigInt(Date.parse('2026-11-22T10:00:00Z')) });
  const startRealConsumer = () =>
    startConsumer(nats, { spec: spec(), logger, concurrency: 4, handler: createAuditHandler(nats.subjects, () => createAuditLogRepository(orm.em.fork() as EntityManager)) });
  const drained = async () => {
    const info = await nats.jsm.consumers.info(spec().stream, spec().durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  beforeAll(async () => {
    db = await createTestDatabase('audit');
    const migrated = await runCommand('gateway', 'migrate', { DATABASE_URL: db.url, NATS_NAMESPACE: namespace });
    expect(migrated.code, migrated.stderr).toBe(0);
    nats = await connectNats(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', 'audit-test', namespace);
    await ensureConsumer(nats, spec());
    orm = await openDatabase({ url: db.url, schema: 'identity', entities: definition.entities, migrations: definition.migrations, logger });
  });

  afterAll(async () => {
    await orm?.close();
    await nats?.connection.drain();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('records a ServiceStarted event once, with its fields, even when published twice', async () => {
    const consumer = await startRealConsumer();
    try {
      const subject = nats.subjects.audit('vault', 'service_started');
      await publishProto(nats, subject, ServiceStartedSchema, event('evt-twice'), { eventId: 'evt-twice' });
      await publishProto(nats, subject, ServiceStartedSchema, event('evt-twice'), { eventId: 'evt-twice' });
      // The same event again, past the stream's de-duplication (no Nats-Msg-Id): the consumer itself must be idempotent.
      const h = natsHeaders();
      h.set('Csda-Event-Id', 'evt-twice');
      h.set('Csda-Event-Type', 'csda.events.v1.ServiceStarted');
      await nats.js.publish(subject, toBinary(ServiceStartedSchema, event('evt-twice')), { headers: h });
      await waitFor(async () => (await rows('evt-twice')).length > 0 && (await drained()));
    } finally {
      await consumer.stop();
    }
    const found = await rows('evt-twice');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ service: 'vault', action: 'service_started', actor: 'service:vault', event_type: 'csda.events.v1.ServiceStarted' });
    expect(new Date(found[0]!.occurred_at).toISOString()).toBe('2026-11-22T10:00:00.000Z');
    expect(found[0]!.payload).toMatchObject({ eventId: 'evt-twice', service: 'vault', instance: 'test' });
  });

  for (const mode of ['before-persist', 'after-persist'] as const) {
    it(`persists exactly one row after the consumer is killed ${mode.replace('-', ' ')}, before its ack`, async () => {
      const eventId = `evt-kill-${mode}`;
      const child = spawn(process.execPath, ['apps/gateway/test/fixtures/audit-consumer-crash.ts', mode], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: db.url, NATS_NAMESPACE: namespace },
        stdio: 'pipe',
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(async () => out.includes('consuming'));
      await publishProto(nats, nats.subjects.audit('vault', 'service_started'), ServiceStartedSchema, event(eventId), { eventId });
      const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
      expect(signal).toBe('SIGKILL');
      expect(out).toContain(`${mode} 1`);
      expect(await rows(eventId)).toHaveLength(mode === 'after-persist' ? 1 : 0);

      const consumer = await startRealConsumer();
      try {
        await waitFor(async () => (await rows(eventId)).length > 0 && (await drained()));
      } finally {
        await consumer.stop();
      }
      expect(await rows(eventId)).toHaveLength(1);
    });
  }

  it('stores events carrying NUL characters (PostgreSQL refuses them) without failing their batch', async () => {
    const consumer = await startRealConsumer();
    try {
      const subject = nats.subjects.audit('gateway', 'login_failed');
      const poisoned = create(AuditEventSchema, { eventId: 'evt-nul', actor: 'anonymous', action: 'login_failed', details: { username: 'mal\u0000lory' }, occurredAtMs: 1n });
      const neighbour = create(AuditEventSchema, { eventId: 'evt-neighbour', actor: 'anonymous', action: 'login_failed', occurredAtMs: 1n });
      await Promise.all([
        publishProto(nats, subject, AuditEventSchema, poisoned, { eventId: 'evt-nul' }),
        publishProto(nats, subject, AuditEventSchema, neighbour, { eventId: 'evt-neighbour' }),
      ]);
      await waitFor(async () => (await rows('evt-nul')).length === 1 && (await rows('evt-neighbour')).length === 1 && (await drained()));
    } finally {
      await consumer.stop();
    }
    expect((await rows('evt-nul'))[0]!.payload.details.username).toBe('mal\uFFFDlory');
  });

  it('dead-letters an AUDIT message it can never decode, without blocking the next one', async () => {
    const consumer = await startRealConsumer();
    try {
      const h = natsHeaders();
      h.set('Csda-Event-Id', 'evt-garbage');
      h.set('Csda-Event-Type', 'csda.events.v1.ServiceStarted');
      await nats.js.publish(nats.subjects.audit('vault', 'service_started'), new Uint8Array([0xff, 0xff, 0xff]), { headers: h });
      await publishProto(nats, nats.subjects.audit('vault', 'service_started'), ServiceStartedSchema, event('evt-after-garbage'), { eventId: 'evt-after-garbage' });
      await waitFor(async () => (await rows('evt-after-garbage')).length === 1 && (await drained()));
    } finally {
      await consumer.stop();
    }
    expect(await rows('evt-garbage')).toHaveLength(0);
    const dlq = nats.subjects.deadLetter(spec().durable);
    const info = await nats.jsm.streams.info(nats.subjects.stream('DEAD_LETTER'), { subjects_filter: dlq });
    expect(info.state.subjects?.[dlq]).toBe(1);
  });
});
