import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import type { Principal } from '@csda/auth';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { DocumentIngestService, type UploadDocumentRequestSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeGateway, firingOf, until } from './run-tool-support.ts';
import { failure, openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const bob = user('bob');
const without = (u: Principal, ...drop: string[]) => ({ ...u, permissions: u.permissions.filter((p) => !drop.includes(p)) });
const at = (iso: string) => new Date(new Date(iso).getTime() + 1_000).toISOString();
const reindex = (documentId: string) => create(ScheduleTargetSchema, { kind: { case: 'reindexDocument', value: { documentId } } });
const NOT_YOURS = { 'target.document_id': 'no such document, or not one you own' };
const FINISHED = new Set(['ready', 'failed']);

/**
 * reindex_document schedules against a real document-ingest process (same
 * database and NATS namespace). Its embedding model points at a closed port,
 * so a document with text stays in the pipeline (embed retried) — the overlap
 * policy's case — while a document without text fails at chunking.
 */
describe('scheduler: reindex_document with the real document-ingest', () => {
  let h: SchedulesHarness;
  const { gateway, owners } = fakeGateway([alice, bob]);

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-05-01T09:00:00Z', {
      documentIngestEnv: {
        EMBEDDING_PROVIDER: 'openai',
        EMBEDDING_OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
        EMBEDDING_OPENAI_MODEL: 'unreachable',
        EMBEDDING_DIMENSIONS: '64',
        EMBEDDING_RETRIES: '0',
        DOCUMENT_MAX_ATTEMPTS: '20',
      },
    });
  }, 120_000);
  afterAll(() => h?.close());
  afterEach(async () => {
    await h.sql('update scheduler.schedules set enabled = false, next_run_at = null');
    for (const u of [alice, bob]) owners.set(u.id, { active: true, permissions: u.permissions });
  });

  const upload = async (owner: Principal, filename: string, text: string, isPublic = false) => {
    async function* parts(): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
      yield { part: { case: 'metadata' as const, value: { filename, isPublic } } };
      yield { part: { case: 'chunk' as const, value: new TextEncoder().encode(text) } };
      yield { part: { case: 'end' as const, value: {} } };
    }
    return (await h.documents!.uploadDocument(parts(), await h.as(owner, 'document-ingest'))).document!;
  };
  const status = async (owner: Principal, id: string) => (await h.documents!.getDocumentStatus({ id }, await h.as(owner, 'document-ingest'))).status!;
  const schedule = async (owner: Principal, name: string, documentId: string, extra: Record<string, unknown> = {}) =>
    h.scheduler.createSchedule({ name, cron: '*/10 * * * *', timeZone: 'UTC', target: reindex(documentId), enabled: true, ...extra }, await h.as(owner));
  const runs = async (owner: Principal, scheduleId: string) => (await h.scheduler.listScheduleRuns({ scheduleId }, await h.as(owner))).items;

  it("create and update accept only a document the owner owns (not another's, even public; not a missing one), with the permissions to reindex it", async () => {
    const own = await upload(alice, 'notes.txt', 'The tides are caused by the moon.');
    const bobsPrivate = await upload(bob, 'bob.txt', 'Private notes of bob.');
    const bobsPublic = await upload(bob, 'public.txt', 'Public notes of bob.', true);
    // Alice can read bob's public document, but it is not hers to reindex.
    expect((await h.documents!.getDocument({ id: bobsPublic.id }, await h.as(alice, 'document-ingest'))).document!.id).toBe(bobsPublic.id);

    for (const id of [bobsPrivate.id, bobsPublic.id, '00000000-0000-4000-8000-000000000000']) {
      expect(await failure(schedule(alice, 'x', id))).toMatchObject({ code: Code.InvalidArgument, fields: NOT_YOURS });
    }
    expect((await failure(schedule(alice, 'x', 'doc-1'))).fields).toEqual({ 'target.document_id': 'a document id (UUID)' });
    expect((await failure(schedule(without(alice, 'documents:write'), 'x', own.id))).fields).toEqual({ 'target.document_id': 'reindexing a document on a schedule needs documents:write' });

    const { schedule: s } = await schedule(alice, 'weekly', own.id);
    expect(s!.target!.kind).toEqual({ case: 'reindexDocument', value: expect.objectContaining({ documentId: own.id }) });
    const asAlice = await h.as(alice);
    expect((await failure(h.scheduler.updateSchedule({ id: s!.id, target: reindex(bobsPublic.id) }, asAlice))).fields).toEqual(NOT_YOURS);
    expect((await h.scheduler.listSchedules({ targetType: 'reindex_document' }, asAlice)).items.map((x) => x.id)).toEqual([s!.id]);
    // The stored CHECK admits the new type (migration), and nothing else.
    await expect(h.sql(`update scheduler.schedules set target_type = 'drop_tables' where id = $1`, [s!.id])).rejects.toThrow(/schedules_target_type_check/);
  });

  it('a run reindexes as the owner: a new version, recorded on the run; forbid skips the next slot while that version is in the pipeline', async () => {
    h.clock.set('2030-05-02T09:00:00Z');
    const doc = await upload(alice, 'tides.txt', 'The tides are caused by the gravity of the moon and the sun.');
    const { schedule: s } = await schedule(alice, 'reindex tides', doc.id);
    const firing = firingOf(h, gateway);

    h.clock.set(at('2030-05-02T09:10:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 1 });
    const [run] = await runs(alice, s!.id);
    expect(run).toMatchObject({ status: 'queued', jobId: `${doc.id}:v2`, detail: `document ${doc.id}: version 2 queued` });
    const st = await status(alice, doc.id);
    expect(st.version).toBe(2);
    expect(FINISHED.has(st.status)).toBe(false);
    // document-ingest audited the reindex as the scheduler acting for alice.
    const rows = await h.sql<{ payload: Buffer }>(`select payload from ingest.outbox where event_type = 'csda.events.v1.AuditEvent' order by id`);
    const audit = rows.map((r) => fromBinary(AuditEventSchema, r.payload)).find((e) => e.action === 'document_reindexed' && e.resourceId === doc.id);
    expect(audit).toMatchObject({ actor: 'service:document-ingest', details: { caller: 'service:scheduler', on_behalf_of: alice.id, version: '2' } });

    // The embedding model is unreachable: version 2 is still in the pipeline at the next slot.
    h.clock.set(at('2030-05-02T09:20:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 1 });
    const [skipped] = await runs(alice, s!.id);
    expect(skipped!.status).toBe('skipped');
    expect(skipped!.detail).toMatch(new RegExp(`^previous run still running \\(document ${doc.id} version 2 is (queued|parsing|chunking|embedding)\\)$`));
    expect((await status(alice, doc.id)).version).toBe(2);
  });

  it('a version that failed is finished: the next slot reindexes again (version 3)', async () => {
    h.clock.set('2030-05-03T09:00:00Z');
    // No text: every version fails, with a reason.
    const doc = await upload(alice, 'blank.txt', '   \n\n   ');
    await until(() => status(alice, doc.id), (x) => x.status === 'failed');
    const { schedule: s } = await schedule(alice, 'reindex blank', doc.id);
    const firing = firingOf(h, gateway);
    h.clock.set(at('2030-05-03T09:10:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 1 });
    expect((await runs(alice, s!.id))[0]).toMatchObject({ status: 'queued', jobId: `${doc.id}:v2` });
    const failed = await until(() => status(alice, doc.id), (x) => x.status === 'failed');
    expect(failed).toMatchObject({ version: 2, status: 'failed', error: 'the text file has no text' });
    h.clock.set(at('2030-05-03T09:20:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 1 });
    expect((await runs(alice, s!.id))[0]).toMatchObject({ status: 'queued', jobId: `${doc.id}:v3` });
  });

  it('a run records why it could not start: permission gone, document deleted; never reindexes for another user', async () => {
    h.clock.set('2030-05-04T09:00:00Z');
    const kept = await upload(alice, 'kept.txt', 'Glaciers move slowly under their own weight.');
    const doomed = await upload(alice, 'doomed.txt', 'A comet returns every 76 years.');
    const s = {
      perm: (await schedule(alice, 'perm', kept.id, { overlapPolicy: 'allow' })).schedule!,
      doomed: (await schedule(alice, 'doomed', doomed.id)).schedule!,
    };
    await h.documents!.deleteDocument({ id: doomed.id }, await h.as(alice, 'document-ingest'));
    owners.set(alice.id, { active: true, permissions: alice.permissions.filter((p) => p !== 'documents:write') });
    const firing = firingOf(h, gateway);
    h.clock.set(at('2030-05-04T09:10:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 2 });
    expect((await runs(alice, s.perm.id))[0]).toMatchObject({ status: 'failed', detail: `document ${kept.id}: the owner no longer may reindex it (reindexing a document on a schedule needs documents:write)` });
    expect((await status(alice, kept.id)).version).toBe(1);

    owners.set(alice.id, { active: true, permissions: alice.permissions });
    h.clock.set(at('2030-05-04T09:20:00Z'));
    await firing.tick();
    const [gone] = await runs(alice, s.doomed.id);
    expect(gone).toMatchObject({ status: 'failed', jobId: '' });
    expect(gone!.detail).toMatch(new RegExp(`^document ${doomed.id}: document-ingest refused: Document ${doomed.id} not found \\(NOT_FOUND; resource: document; identifier: ${doomed.id}\\)$`));

    // A schedule row pointed at bob's document (as if it were his once) runs as alice, scoped to it: document-ingest refuses.
    const bobs = await upload(bob, 'bobs.txt', 'Notes bob keeps to himself.', true);
    await h.sql(`update scheduler.schedules set target = jsonb_build_object('document_id', $1::text) where id = $2`, [bobs.id, s.perm.id]);
    h.clock.set(at('2030-05-04T09:30:00Z'));
    await firing.tick();
    expect((await runs(alice, s.perm.id))[0]!.detail).toMatch(/document-ingest refused: Document .* not found \(NOT_FOUND;/);
    expect((await status(bob, bobs.id)).version).toBe(1);
  });

  it('document-ingest not answering keeps the slot for the grace period, then the run is failed saying so', async () => {
    h.clock.set('2030-05-05T09:00:00Z');
    const doc = await upload(alice, 'unreached.txt', 'Volcanoes erupt molten rock.');
    const { schedule: s } = await schedule(alice, 'unreached', doc.id);
    // Nothing listens on port 9.
    const firing = firingOf(h, gateway, { documents: createServiceClient(DocumentIngestService, 'http://127.0.0.1:9'), graceMs: 60_000 });
    h.clock.set(at('2030-05-05T09:10:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 0 });
    expect(await runs(alice, s!.id)).toHaveLength(0);
    h.clock.set('2030-05-05T09:11:02Z');
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 1 });
    expect((await runs(alice, s!.id))[0]).toMatchObject({ status: 'failed', detail: 'could not start: document-ingest did not answer (Unavailable); retried for 61 s' });
    expect((await status(alice, doc.id)).version).toBe(1);
  });
});
