import { create, toBinary } from '@bufbuild/protobuf';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { connectNats, createLogger, ensureConsumer, EVENT_ID_HEADER, EVENT_TYPE_HEADER, openDatabase, startConsumer, type MikroORM, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, query, runCommand, testNamespace, waitFor, type TestDatabase } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLogRepository, type AuditRecord } from '../src/audit/audit-log.repository.ts';
import { auditConsumerSpec, createAuditHandler } from '../src/audit/audit.consumer.ts';
import { definition } from '../src/definition.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

const record = (i: number): AuditRecord => ({
  eventId: randomUUID(),
  subject: 'csda.audit.vault.secret_revealed',
  service: 'vault',
  action: 'secret_revealed',
  actor: `user-${i}`,
  resourceType: 'secret',
  resourceId: `s-${i}`,
  eventType: 'csda.events.v1.AuditEvent',
  payload: { actor: `user-${i}`, details: { version: String(i) }, note: 'x' },
  occurredAt: new Date(Date.UTC(2026, 11, 1, 10, 0, i)),
});

/** identity.audit_log: append-only, hash-chained, verified; forged publishes refused. Attacked as someone with database or NATS access would. */
describe('audit log integrity', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  let orm: MikroORM;
  let nats: Nats;
  const env = () => ({ DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl() });
  const repo = () => createAuditLogRepository(orm.em.fork() as EntityManager);
  const verify = () => runCommand('gateway', ['audit', 'verify'], env());
  /** What an attacker with the table owner's rights does: switch the guard off, edit, switch it back on. */
  const tamper = async (sql: string) => {
    await query(db.url, 'alter table identity.audit_log disable trigger audit_log_no_update_delete');
    await query(db.url, sql);
    await query(db.url, 'alter table identity.audit_log enable trigger audit_log_no_update_delete');
  };

  beforeAll(async () => {
    db = await createTestDatabase('audit_chain');
    const migrated = await runCommand('gateway', 'migrate', env());
    expect(migrated.code, migrated.stderr).toBe(0);
    orm = await openDatabase({ url: db.url, schema: 'identity', entities: definition.entities, migrations: definition.migrations, logger });
    nats = await connectNats(natsUrl(), 'audit-integrity-test', namespace);
  });

  afterAll(async () => {
    await orm?.close();
    await nats?.connection.drain();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit rows at the database', async () => {
    await repo().record([record(0)]);
    for (const sql of ["update identity.audit_log set actor = 'someone-else'", 'delete from identity.audit_log', 'truncate identity.audit_log']) {
      await expect(query(db.url, sql)).rejects.toThrow(/identity\.audit_log is append-only/);
    }
    expect(await query(db.url, 'select actor from identity.audit_log')).toEqual([{ actor: 'user-0' }]);
  });

  it('chains every row to the previous one; replays add nothing; `audit verify` passes on an intact log', async () => {
    const batch = Array.from({ length: 5 }, (_, i) => record(i + 1));
    expect(await repo().record(batch)).toBe(5);
    expect(await repo().record([batch[2]!, record(6)])).toBe(1);
    // Concurrent appends stay one chain (the chain lock orders them).
    await Promise.all(Array.from({ length: 4 }, (_, i) => repo().record([record(10 + i), record(20 + i)])));
    const rows = await query<{ prev_hash: string; hash: string }>(db.url, 'select prev_hash, hash from identity.audit_log order by id');
    expect(rows).toHaveLength(15);
    expect(rows[0]!.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    const ok = await verify();
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`15 row\\(s\\) intact; head ${rows.at(-1)!.hash}`));
  });

  it('names the first broken link after an edited row, and after a deleted one', async () => {
    const [target] = await query<{ id: string }>(db.url, "select id::text as id from identity.audit_log where actor = 'user-3'");
    await tamper(`update identity.audit_log set payload = jsonb_set(payload, '{note}', '"rewritten"') where id = ${Number(target!.id)}`);
    const edited = await verify();
    expect(edited.code).toBe(1);
    expect(edited.stdout).toContain(`BROKEN at row ${target!.id}`);
    expect(edited.stdout).toContain('content does not match its hash');
    // Put it back, then remove a row instead: the next row's link breaks.
    await tamper(`update identity.audit_log set payload = jsonb_set(payload, '{note}', '"x"') where id = ${Number(target!.id)}`);
    expect((await verify()).code).toBe(0);
    const [next] = await query<{ id: string }>(db.url, 'select id::text as id from identity.audit_log where audit_log.id > $1 order by audit_log.id limit 1', [target!.id]);
    await tamper(`delete from identity.audit_log where id = ${Number(target!.id)}`);
    const removed = await verify();
    expect(removed.code).toBe(1);
    expect(removed.stdout).toContain(`BROKEN at row ${next!.id}`);
    expect(removed.stdout).toContain('prev_hash does not match the previous row');
  });

  it('dead-letters an audit event whose payload claims another service than its subject', async () => {
    const spec = auditConsumerSpec(nats.subjects, 1_000);
    await ensureConsumer(nats, spec);
    const consumer = await startConsumer(nats, { spec, logger, concurrency: 4, handler: createAuditHandler(nats.subjects, repo) });
    try {
      const publish = async (service: string, actor: string) => {
        const eventId = randomUUID();
        const h = natsHeaders();
        h.set(EVENT_TYPE_HEADER, AuditEventSchema.typeName);
        h.set(EVENT_ID_HEADER, eventId);
        const event = create(AuditEventSchema, { eventId, actor, action: 'secret_revealed', outcome: 'success', occurredAtMs: BigInt(Date.now()) });
        await nats.js.publish(nats.subjects.audit(service, 'secret_revealed'), toBinary(AuditEventSchema, event), { msgID: eventId, headers: h });
        return eventId;
      };
      const forged = await publish('tool-runner', 'service:vault');
      const genuine = await publish('tool-runner', 'service:tool-runner');
      await waitFor(async () => (await query(db.url, 'select 1 from identity.audit_log where event_id = $1', [genuine])).length === 1, { what: 'genuine event recorded' });
      const lastDead = () => nats.jsm.streams.getMessage(nats.subjects.stream('DEAD_LETTER'), { last_by_subj: nats.subjects.deadLetter('gateway-audit-log') }).catch(() => undefined);
      await waitFor(async () => (await lastDead())?.header.get(EVENT_ID_HEADER) === forged, { what: 'forged event dead-lettered' });
      expect((await lastDead())?.header.get('Csda-Dead-Letter-Reason')).toMatch(/claims actor service:vault/);
      expect(await query(db.url, 'select 1 from identity.audit_log where event_id = $1', [forged])).toEqual([]);
    } finally {
      await consumer.stop();
    }
  });
});
