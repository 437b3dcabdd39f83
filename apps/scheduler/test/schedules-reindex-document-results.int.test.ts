import { randomUUID } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import type { Principal } from '@csda/auth';
import { type UploadDocumentRequestSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { deleteNamespace, startEmbeddingServer, testNamespace, type EmbeddingServer } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reindexDocument as reindexTarget } from '../src/schedules/reindex-document.target.ts';
import { fakeGateway, firingOf, startEventsConsumer, until } from './run-tool-support.ts';
import { failure, openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const at = (iso: string) => new Date(new Date(iso).getTime() + 1_000).toISOString();
const reindex = (documentId: string) => create(ScheduleTargetSchema, { kind: { case: 'reindexDocument', value: { documentId } } });

/**
 * reindex_document runs end: the real document-ingest reports the versions a
 * schedule started as JobResults (its outbox → EVENTS, job id
 * `<document id>:v<version>`), the scheduler's EVENTS consumer folds them
 * into job records, and the run (and the schedule's last run status) reads
 * succeeded when the version is ready (a real search indexes it) or failed
 * with the reason — also when a later reindex replaces the version or the
 * document is deleted before it was ready.
 */
describe('scheduler: a reindex_document run ends with its version', () => {
  const namespace = testNamespace();
  let h: SchedulesHarness;
  let stopEvents: (() => Promise<void>) | undefined;
  let embeddings: EmbeddingServer;
  const { gateway } = fakeGateway([alice]);

  beforeAll(async () => {
    // document-ingest's and search's embedding provider; a delay keeps a version in the pipeline.
    embeddings = await startEmbeddingServer({ dims: 64 });
    const embeddingEnv = { ...embeddings.env(), EMBEDDING_TIMEOUT_MS: '30000' };
    h = await openSchedulesHarness('2030-06-01T09:00:00Z', { vaultNamespace: namespace, documentIngestEnv: { ...embeddingEnv, DOCUMENT_ACK_WAIT_S: '10' }, searchEnv: embeddingEnv });
    stopEvents = await startEventsConsumer(h, namespace);
  }, 180_000);
  afterAll(async () => {
    await stopEvents?.();
    await h?.close();
    await embeddings?.close();
    await deleteNamespace(namespace);
  });
  afterEach(async () => {
    embeddings.delayMs = 0;
    await h.sql('update scheduler.schedules set enabled = false, next_run_at = null');
  });

  const upload = async (owner: Principal, filename: string, text: string) => {
    async function* parts(): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
      yield { part: { case: 'metadata', value: { filename } } };
      yield { part: { case: 'chunk', value: new TextEncoder().encode(text) } };
      yield { part: { case: 'end', value: {} } };
    }
    return (await h.documents!.uploadDocument(parts(), await h.as(owner, 'document-ingest'))).document!;
  };
  const status = async (id: string) => (await h.documents!.getDocumentStatus({ id }, await h.as(alice, 'document-ingest'))).status!;

  /** A schedule on the document, fired once at its first slot of `day`: the run, once it has ended. */
  async function fireOnce(documentId: string, day: string, meanwhile?: () => Promise<void>) {
    await h.sql('update scheduler.schedules set enabled = false, next_run_at = null');
    h.clock.set(`${day}T09:00:00Z`);
    const asAlice = await h.as(alice);
    const { schedule } = await h.scheduler.createSchedule({ name: `r-${day}`, cron: '*/10 * * * *', timeZone: 'UTC', target: reindex(documentId), enabled: true }, asAlice);
    h.clock.set(at(`${day}T09:10:00Z`));
    expect((await firingOf(h, gateway).tick()).fired).toBe(1);
    const runs = () => h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice);
    await meanwhile?.();
    const run = await until(
      async () => (await runs()).items[0]!,
      (r) => r.status === 'succeeded' || r.status === 'failed',
    );
    return { schedule: schedule!, run, asAlice };
  }

  it('a due run ends succeeded once its version is ready, and so does the schedule last run status', async () => {
    const doc = await upload(alice, 'tides.txt', 'The tides are caused by the gravity of the moon and the sun.');
    await until(() => status(doc.id), (s) => s.status === 'ready');
    const { schedule, run, asAlice } = await fireOnce(doc.id, '2030-06-01');
    expect(run).toMatchObject({ status: 'succeeded', jobId: `${doc.id}:v2` });
    expect(Number(run.finishedAtMs)).toBeGreaterThan(0);
    expect(await status(doc.id)).toMatchObject({ version: 2, status: 'ready', indexedVersion: 2 });
    expect((await h.scheduler.getSchedule({ id: schedule.id }, asAlice)).schedule!.lastRunStatus).toBe('succeeded');
    const [job] = await h.sql<{ type: string; trigger: string; schedule_id: string; schedule_run_id: string; owner_id: string; resource_id: string; detail: string }>(
      'select type, trigger, schedule_id, schedule_run_id, owner_id, resource_id, detail from scheduler.jobs where id = $1',
      [run.jobId],
    );
    expect(job).toEqual({ type: 'reindex_document', trigger: 'schedule', schedule_id: schedule.id, schedule_run_id: run.id, owner_id: alice.id, resource_id: doc.id, detail: expect.stringMatching(/ready: \d+ chunks$/) });
  });

  it("a version that fails ends the run failed with document-ingest's reason", async () => {
    const doc = await upload(alice, 'blank.txt', '   \n\n   ');
    await until(() => status(doc.id), (s) => s.status === 'failed');
    const { schedule, run, asAlice } = await fireOnce(doc.id, '2030-06-02');
    expect(run).toMatchObject({ status: 'failed', jobId: `${doc.id}:v2`, detail: 'parse failed: the text file has no text' });
    expect((await h.scheduler.getSchedule({ id: schedule.id }, asAlice)).schedule!.lastRunStatus).toBe('failed');
  });

  it('a version replaced by a reindex by hand, or dropped with its deleted document, before it was ready ends the run failed saying so', async () => {
    const replaced = await upload(alice, 'replaced.txt', 'Glaciers move slowly under their own weight.');
    await until(() => status(replaced.id), (s) => s.status === 'ready');
    // The model answers slowly: the scheduled version is still in the pipeline when the owner reindexes by hand.
    embeddings.delayMs = 5_000;
    const first = await fireOnce(replaced.id, '2030-06-03', async () => {
      expect((await status(replaced.id)).version).toBe(2);
      await h.documents!.reindexDocument({ id: replaced.id }, await h.as(alice, 'document-ingest'));
    });
    expect(first.run).toMatchObject({ status: 'failed', jobId: `${replaced.id}:v2`, detail: 'replaced by version 3 (a reindex) before it was ready' });

    const doomed = await upload(alice, 'doomed.txt', 'A comet returns every 76 years.');
    await until(() => status(doomed.id), (s) => s.status === 'ready' || s.status === 'embedding');
    const second = await fireOnce(doomed.id, '2030-06-04', async () => {
      await h.documents!.deleteDocument({ id: doomed.id }, await h.as(alice, 'document-ingest'));
    });
    expect(second.run).toMatchObject({ status: 'failed', jobId: `${doomed.id}:v2`, detail: 'the document was deleted before this version was ready' });
  });

  it('firing one slot again (a retry after a lost commit) gets the same version back; only the scheduler may tie a reindex to a schedule', async () => {
    const doc = await upload(alice, 'once.txt', 'Volcanoes form where plates meet.');
    const deps = { toolRunner: h.clients.toolRunner, documents: h.clients.documents, asUser: h.clients.asUser, vault: h.clients.vault, enqueueRotations: async () => undefined };
    const owner = { id: alice.id, name: alice.name, roles: alice.roles, permissions: alice.permissions };
    const scheduleId = randomUUID();
    const scheduledFor = new Date('2030-06-05T09:10:00Z');
    const ctx = (runId: string) => ({ scheduleId, runId, scheduledFor, owner, em: h.orm.em.fork() as EntityManager });
    const data = { document_id: doc.id };
    const first = await reindexTarget.fire(deps, ctx(randomUUID()), data);
    const again = await reindexTarget.fire(deps, ctx(randomUUID()), data);
    const next = await reindexTarget.fire(deps, { ...ctx(randomUUID()), scheduledFor: new Date('2030-06-05T09:20:00Z') }, data);
    expect(first).toMatchObject({ status: 'queued', jobId: `${doc.id}:v2` });
    expect(again).toEqual(first);
    expect(next).toMatchObject({ status: 'queued', jobId: `${doc.id}:v3` });
    const [row] = await h.sql<{ n: number }>('select count(*)::int as n from ingest.versions where document_id = $1', [doc.id]);
    expect(row!.n).toBe(3);

    // The owner themselves (not the scheduler acting for them) cannot claim a schedule; a bad key names the field.
    const asOwner = await h.as(alice, 'document-ingest');
    expect((await failure(h.documents!.reindexDocument({ id: doc.id, scheduleId, scheduleRunId: randomUUID() }, asOwner))).code).toBe(Code.PermissionDenied);
    expect((await failure(h.documents!.reindexDocument({ id: doc.id, idempotencyKey: 'not a key!' }, asOwner))).fields).toEqual({ idempotency_key: '1-200 characters of A-Z a-z 0-9 . _ : -' });
    // A key of the owner's own works the same way.
    const mine = (await h.documents!.reindexDocument({ id: doc.id, idempotencyKey: 'by-hand-1' }, asOwner)).document!.status!.version;
    expect((await h.documents!.reindexDocument({ id: doc.id, idempotencyKey: 'by-hand-1' }, asOwner)).document!.status!.version).toBe(mine);
    expect(mine).toBe(4);
  });
});
