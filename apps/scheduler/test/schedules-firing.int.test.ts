import { create, fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { GetUsersResponseSchema, UserStatusSchema } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { RotateSecretJobSchema } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { connectNats, ensureStreams, type MikroORM, type Nats } from '@csda/service-kit';
import { deleteNamespace, natsUrl, testNamespace } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobQueue } from '../src/jobs/job-queue.ts';
import { createScheduleFiring, startScheduleLoop, type ScheduleLoopDeps } from '../src/schedules/schedule-loop.ts';
import { createScheduleMetrics } from '../src/schedules/schedule-metrics.ts';
import { Registry } from 'prom-client';
import { openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const bob = user('bob');
const carol = user('carol');

const rotate = (secretId: string) => create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId } } });
const ms = (iso: string) => new Date(iso).getTime();

type RunRow = {
  schedule_id: string;
  scheduled_for: Date;
  status: string;
  job_id: string | null;
  detail: string;
};

/**
 * The firing loop on the real database, the real vault (the target is read
 * as the owner) and real JetStream (the job queue publishes on the
 * scheduler's namespace). The gateway's GetUsers is a deps function whose
 * answers each test sets: is_active / permissions are the gateway's to report.
 */
describe('scheduler: firing user schedules', () => {
  let h: SchedulesHarness;
  const namespace = testNamespace();
  const natsConnections: Nats[] = [];
  const owners = new Map<string, { active: boolean; permissions: readonly string[] }>();
  let aliceSecret: Secret;
  let getUsersCalls = 0;

  const gateway: ScheduleLoopDeps['gateway'] = {
    async getUsers(req) {
      // The gateway's contract (gateway.rpc.ts): at most 1000 ids, each a UUID.
      const ids = req.ids ?? [];
      expect(ids.length).toBeLessThanOrEqual(1_000);
      expect(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id))).toBe(true);
      getUsersCalls++;
      const users = ids.flatMap((id) => {
        const known = [alice, bob, carol].find((u) => u.id === id);
        const state = owners.get(id);
        if (!known || !state) return [];
        return [create(UserStatusSchema, { id, username: known.name, isActive: state.active, roles: [...known.roles], permissions: [...state.permissions] })];
      });
      return create(GetUsersResponseSchema, { users });
    },
  };

  // Two scheduler replicas, opened once: each its own ORM pool and NATS connection.
  const replicas: ScheduleLoopDeps[] = [];
  const replica = async (extra: Partial<ScheduleLoopDeps> = {}, which = 0): Promise<ScheduleLoopDeps> => ({ ...replicas[which]!, ...extra });

  async function openReplica(): Promise<ScheduleLoopDeps> {
    const orm: MikroORM = await h.openOrm();
    const nats = await connectNats(natsUrl(), 'scheduler', namespace);
    natsConnections.push(nats);
    const queue = createJobQueue({ runtime: { orm, nats, logger: h.logger } });
    return {
      em: () => orm.em.fork() as EntityManager,
      logger: h.logger,
      enqueueRotations: (jobs, em) => queue.enqueueRotations(jobs, em),
      vault: h.clients.vault,
      toolRunner: h.clients.toolRunner,
      documents: h.clients.documents,
      asUser: h.clients.asUser,
      gateway,
      asScheduler: h.clients.asScheduler,
      clock: h.clock.now,
      resumeCheckMs: 0,
    };
  }

  const schedule = async (owner = alice, overrides: Record<string, unknown> = {}) =>
    (await h.scheduler.createSchedule({ name: `s-${Math.random().toString(36).slice(2, 10)}`, cron: '0 * * * *', timeZone: 'UTC', target: rotate(aliceSecret.id), enabled: true, ...overrides }, await h.as(owner)))
      .schedule!;
  const runsOf = (scheduleId: string) => h.sql<RunRow>('select schedule_id, scheduled_for, status, job_id, detail from scheduler.schedule_runs where schedule_id = $1 order by scheduled_for', [scheduleId]);
  const rowOf = async (scheduleId: string) =>
    (await h.sql<{ next_run_at: Date | null; paused_reason: string | null; last_run_status: string | null }>('select next_run_at, paused_reason, last_run_status from scheduler.schedules where id = $1', [scheduleId]))[0]!;
  const streamMessages = async () => (await natsConnections[0]!.jsm.streams.info(`${namespace}_JOBS_SECRETS`)).state.messages;

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-01-01T09:30:00Z');
    const nats = await connectNats(natsUrl(), 'scheduler', namespace);
    natsConnections.push(nats);
    await ensureStreams(nats);
    for (const u of [alice, bob, carol]) owners.set(u.id, { active: true, permissions: u.permissions });
    aliceSecret = await h.createSecret(alice, 'alice-rotated');
    replicas.push(await openReplica(), await openReplica());
  });
  afterAll(async () => {
    for (const n of natsConnections) await n.connection.close();
    await h?.close();
    await deleteNamespace(namespace);
  });

  it('two replicas racing over the same due schedules fire each slot exactly once (runs, job records, messages)', async () => {
    h.clock.set('2030-01-01T09:58:00Z');
    const created = [];
    for (let i = 0; i < 24; i++) created.push(await schedule(alice, { cron: '*/5 * * * *', overlapPolicy: 'allow' }));
    const ids = new Set(created.map((s) => s.id));
    const [a, b] = [createScheduleFiring(await replica({ batchSize: 5 }, 0)), createScheduleFiring(await replica({ batchSize: 5 }, 1))];
    const before = await streamMessages();
    const callsBefore = getUsersCalls;
    for (const slot of ['2030-01-01T10:00:00Z', '2030-01-01T10:05:00Z', '2030-01-01T10:10:00Z']) {
      h.clock.set(new Date(ms(slot) + 2_000).toISOString());
      const results = await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
      expect(results.reduce((n, r) => n + r.fired, 0)).toBe(24);
    }
    const runs = (await h.sql<RunRow>('select schedule_id, scheduled_for, status, job_id, detail from scheduler.schedule_runs')).filter((r) => ids.has(r.schedule_id));
    expect(runs).toHaveLength(72);
    expect(new Set(runs.map((r) => `${r.schedule_id}:${new Date(r.scheduled_for).getTime()}`)).size).toBe(72);
    expect(runs.every((r) => r.status === 'queued' && r.job_id === `schedule:${r.schedule_id}:${new Date(r.scheduled_for).getTime()}`)).toBe(true);
    const jobs = await h.sql<{ n: string }>("select count(*) as n from scheduler.jobs where trigger = 'schedule' and schedule_id = any($1)", [[...ids]]);
    expect(Number(jobs[0]!.n)).toBe(72);
    expect((await streamMessages()) - before).toBe(72);
    // Owners are looked up once per batch of candidates, not once per schedule.
    expect(getUsersCalls - callsBefore).toBeLessThan(72);
    // Nothing left to do at the same instant.
    const again = await Promise.all([a.tick(), b.tick()]);
    expect(again.every((r) => r.fired === 0)).toBe(true);
    for (const s of created) expect((await rowOf(s.id)).next_run_at?.toISOString()).toBe('2030-01-01T10:15:00.000Z');
  });

  it('a job carries the owner it acts for, the secret version it replaces, the slot and its run', async () => {
    h.clock.set('2030-01-01T10:30:00Z');
    const s = await schedule(alice);
    h.clock.set('2030-01-01T11:00:01Z');
    const firing = createScheduleFiring(await replica());
    expect((await firing.tick()).fired).toBeGreaterThanOrEqual(1);
    const [run] = await runsOf(s.id);
    const [job] = await h.sql<{ payload: Buffer; owner_id: string; resource_id: string; schedule_run_id: string }>('select payload, owner_id, resource_id, schedule_run_id from scheduler.jobs where id = $1', [run!.job_id]);
    const message = fromBinary(RotateSecretJobSchema, job!.payload);
    expect(message).toMatchObject({
      jobId: `schedule:${s.id}:${ms('2030-01-01T11:00:00Z')}`,
      secretId: aliceSecret.id,
      expectedVersion: aliceSecret.currentVersion,
      dueAtMs: BigInt(ms('2030-01-01T11:00:00Z')),
      scheduleId: s.id,
      actingFor: expect.objectContaining({ userId: alice.id, username: 'alice', roles: ['USER'] }),
    });
    const [{ id: runId }] = (await h.sql<{ id: string }>('select id from scheduler.schedule_runs where job_id = $1', [run!.job_id])) as [{ id: string }];
    expect(message.scheduleRunId).toBe(runId);
    expect(job).toMatchObject({ owner_id: alice.id, resource_id: aliceSecret.id, schedule_run_id: runId });
  });

  it('misfire after a downtime: skip runs nothing, run_once runs exactly one catch-up; both continue at the next future slot', async () => {
    h.clock.set('2030-01-02T10:30:00Z');
    const skip = await schedule(alice, { misfirePolicy: 'skip', overlapPolicy: 'allow' });
    const once = await schedule(alice, { misfirePolicy: 'run_once', overlapPolicy: 'allow' });
    // Down from 10:30 to 14:20: the 11:00, 12:00, 13:00 and 14:00 slots passed.
    h.clock.set('2030-01-02T14:20:00Z');
    const firing = createScheduleFiring(await replica());
    await firing.tick();
    await firing.tick();
    expect(await runsOf(skip.id)).toEqual([]);
    const catchUp = await runsOf(once.id);
    expect(catchUp.map((r) => [new Date(r.scheduled_for).toISOString(), r.status, r.detail])).toEqual([['2030-01-02T14:00:00.000Z', 'queued', 'catch-up run for missed slots']]);
    for (const s of [skip, once]) expect((await rowOf(s.id)).next_run_at?.toISOString()).toBe('2030-01-02T15:00:00.000Z');
    // Back to normal: the next slot, on time, runs under both policies.
    h.clock.set('2030-01-02T15:00:03Z');
    await firing.tick();
    expect((await runsOf(skip.id)).map((r) => new Date(r.scheduled_for).toISOString())).toEqual(['2030-01-02T15:00:00.000Z']);
    expect(await runsOf(once.id)).toHaveLength(2);
  });

  it('overlap forbid: a slot is skipped while the previous run is unfinished; run status follows its job', async () => {
    h.clock.set('2030-01-03T09:30:00Z');
    const s = await schedule(alice, { overlapPolicy: 'forbid' });
    const firing = createScheduleFiring(await replica());
    h.clock.set('2030-01-03T10:00:01Z');
    await firing.tick();
    h.clock.set('2030-01-03T11:00:01Z');
    await firing.tick();
    let runs = await runsOf(s.id);
    expect(runs.map((r) => r.status)).toEqual(['queued', 'skipped']);
    expect(runs[1]!.detail).toMatch(/^previous run still running \(job schedule:.+ is queued\)$/);
    expect(runs[1]!.job_id).toBeNull();
    // Retrying is still running: the next slot is skipped too, and the run reads as running.
    await h.sql("update scheduler.jobs set status = 'retrying' where id = $1", [runs[0]!.job_id]);
    const asAlice = await h.as(alice);
    expect((await h.scheduler.listScheduleRuns({ scheduleId: s.id }, asAlice)).items.map((r) => r.status)).toEqual(['skipped', 'running']);
    h.clock.set('2030-01-03T12:00:01Z');
    await firing.tick();
    await h.sql("update scheduler.jobs set status = 'dead', last_error = 'target refused the new password', finished_at = now() where id = $1", [runs[0]!.job_id]);
    h.clock.set('2030-01-03T13:00:01Z');
    await firing.tick();
    runs = await runsOf(s.id);
    expect(runs.map((r) => r.status)).toEqual(['queued', 'skipped', 'skipped', 'queued']);
    const listed = (await h.scheduler.listScheduleRuns({ scheduleId: s.id }, asAlice)).items;
    expect(listed.map((r) => r.status)).toEqual(['queued', 'skipped', 'skipped', 'failed']);
    expect(listed[3]).toMatchObject({ detail: 'target refused the new password', scheduledForMs: BigInt(ms('2030-01-03T10:00:00Z')) });
    expect(listed[3]!.finishedAtMs).toBeGreaterThan(0n);
    await h.sql("update scheduler.jobs set status = 'succeeded', finished_at = now() where id = $1", [runs[3]!.job_id]);
    const got = (await h.scheduler.getSchedule({ id: s.id }, asAlice)).schedule!;
    expect(got).toMatchObject({ lastRunStatus: 'succeeded', lastRunAtMs: BigInt(ms('2030-01-03T13:00:00Z')), nextRunAtMs: BigInt(ms('2030-01-03T14:00:00Z')) });
  });

  it('an inactive (or unknown) owner pauses the schedule without a run; it resumes at the next future slot once active', async () => {
    h.clock.set('2030-01-04T09:30:00Z');
    const bobSecret = await h.createSecret(bob, `bob-${Date.now()}`);
    const s = await schedule(bob, { target: rotate(bobSecret.id) });
    const firing = createScheduleFiring(await replica());
    owners.set(bob.id, { active: false, permissions: bob.permissions });
    h.clock.set('2030-01-04T10:00:01Z');
    expect((await firing.tick()).paused).toBe(1);
    expect(await rowOf(s.id)).toMatchObject({ next_run_at: null, paused_reason: 'owner_inactive' });
    expect((await h.scheduler.getSchedule({ id: s.id }, await h.as(bob))).schedule).toMatchObject({ enabled: true, pausedReason: 'owner_inactive', nextRunAtMs: 0n });
    h.clock.set('2030-01-04T11:00:01Z');
    expect((await firing.tick()).resumed).toBe(0);
    // Unknown to the gateway (deleted) is the same as inactive.
    owners.delete(bob.id);
    expect((await firing.tick()).resumed).toBe(0);
    expect(await runsOf(s.id)).toEqual([]);
    owners.set(bob.id, { active: true, permissions: bob.permissions });
    h.clock.set('2030-01-04T12:30:00Z');
    expect((await firing.tick()).resumed).toBe(1);
    expect(await rowOf(s.id)).toMatchObject({ paused_reason: null, next_run_at: new Date('2030-01-04T13:00:00Z') });
    h.clock.set('2030-01-04T13:00:01Z');
    await firing.tick();
    expect((await runsOf(s.id)).map((r) => r.status)).toEqual(['queued']);
  });

  it('an owner who lost the right gets a failed run with a readable reason, and no job', async () => {
    h.clock.set('2030-01-05T09:30:00Z');
    const carolSecret = await h.createSecret(carol, `carol-${Date.now()}`);
    const lostWrite = await schedule(carol, { target: rotate(carolSecret.id), overlapPolicy: 'allow' });
    const gone = await h.createSecret(carol, `carol-gone-${Date.now()}`);
    const deleted = await schedule(carol, { target: rotate(gone.id), overlapPolicy: 'allow' });
    await h.vault.deleteSecret({ id: gone.id }, await h.as(carol, 'vault'));
    const firing = createScheduleFiring(await replica());
    owners.set(carol.id, { active: true, permissions: carol.permissions.filter((p) => p !== 'secrets:write') });
    h.clock.set('2030-01-05T10:00:01Z');
    await firing.tick();
    expect((await runsOf(lostWrite.id)).map((r) => [r.status, r.job_id, r.detail])).toEqual([['failed', null, `secret ${carolSecret.id}: rotating a secret needs secrets:write`]]);
    expect((await runsOf(deleted.id)).map((r) => [r.status, r.detail])).toEqual([['failed', `secret ${gone.id}: no such secret, or not yours`]]);
    owners.set(carol.id, { active: true, permissions: carol.permissions.filter((p) => p !== 'schedules:write') });
    h.clock.set('2030-01-05T11:00:01Z');
    await firing.tick();
    expect((await runsOf(lostWrite.id)).map((r) => [r.status, r.detail])[1]).toEqual(['failed', 'the owner no longer holds schedules:write']);
    const jobs = await h.sql<{ n: string }>('select count(*) as n from scheduler.jobs where schedule_id = any($1)', [[lostWrite.id, deleted.id]]);
    expect(Number(jobs[0]!.n)).toBe(0);
    expect((await h.scheduler.getSchedule({ id: lostWrite.id }, await h.as(carol))).schedule?.lastRunStatus).toBe('failed');
    owners.set(carol.id, { active: true, permissions: carol.permissions });
  });

  it('a vault that does not answer: the slot is retried (not missed), then recorded failed after the grace', async () => {
    let down = true;
    const flaky: ScheduleLoopDeps['vault'] = {
      getSecret: (req, options) => (down ? Promise.reject(new ConnectError('connection refused', Code.Unavailable)) : h.clients.vault.getSecret(req, options)),
    };
    h.clock.set('2030-01-07T09:30:00Z');
    const recovers = await schedule(alice, { overlapPolicy: 'allow', misfirePolicy: 'skip' });
    const firing = createScheduleFiring(await replica({ vault: flaky }));
    h.clock.set('2030-01-07T10:00:01Z');
    expect((await firing.tick()).fired).toBe(0);
    expect(await runsOf(recovers.id)).toEqual([]);
    expect((await rowOf(recovers.id)).next_run_at?.toISOString()).toBe('2030-01-07T10:00:00.000Z');
    // Back 50 s later: the same slot runs, on time for its owner.
    down = false;
    h.clock.set('2030-01-07T10:00:50Z');
    await firing.tick();
    expect((await runsOf(recovers.id)).map((r) => [new Date(r.scheduled_for).toISOString(), r.status])).toEqual([['2030-01-07T10:00:00.000Z', 'queued']]);

    // Down for longer than the grace: one failed run for the slot, with the reason, then the next slot.
    down = true;
    h.clock.set('2030-01-07T11:00:01Z');
    await firing.tick();
    h.clock.set('2030-01-07T11:01:30Z');
    await firing.tick();
    const runs = await runsOf(recovers.id);
    expect(runs.map((r) => [new Date(r.scheduled_for).toISOString(), r.status, r.job_id])).toEqual([
      ['2030-01-07T10:00:00.000Z', 'queued', expect.any(String)],
      ['2030-01-07T11:00:00.000Z', 'failed', null],
    ]);
    expect(runs[1]!.detail).toBe('could not start: the vault did not answer (Unavailable); retried for 89 s');
    expect((await rowOf(recovers.id)).next_run_at?.toISOString()).toBe('2030-01-07T12:00:00.000Z');
  });

  it('DST: Berlin 02:30 fires at 03:00 CEST on spring-forward day, and once (not twice) on fall-back day', async () => {
    const firing = createScheduleFiring(await replica());
    h.clock.set('2027-03-27T12:00:00Z');
    const spring = await schedule(alice, { cron: '30 2 * * *', timeZone: 'Europe/Berlin', overlapPolicy: 'allow' });
    expect((await rowOf(spring.id)).next_run_at?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
    h.clock.set('2027-03-28T01:00:02Z');
    await firing.tick();
    expect((await runsOf(spring.id)).map((r) => new Date(r.scheduled_for).toISOString())).toEqual(['2027-03-28T01:00:00.000Z']);
    expect((await rowOf(spring.id)).next_run_at?.toISOString()).toBe('2027-03-29T00:30:00.000Z');

    h.clock.set('2027-10-30T12:00:00Z');
    const fall = await schedule(alice, { cron: '30 2 * * *', timeZone: 'Europe/Berlin', overlapPolicy: 'allow' });
    h.clock.set('2027-10-31T00:30:02Z'); // 02:30 CEST
    await firing.tick();
    h.clock.set('2027-10-31T01:30:02Z'); // 02:30 CET, the same wall time again
    await firing.tick();
    expect((await runsOf(fall.id)).map((r) => new Date(r.scheduled_for).toISOString())).toEqual(['2027-10-31T00:30:00.000Z']);
    expect((await rowOf(fall.id)).next_run_at?.toISOString()).toBe('2027-11-01T01:30:00.000Z');
  });

  it('startScheduleLoop ticks on its interval and stop() ends it', async () => {
    h.clock.set('2030-01-06T09:30:00Z');
    const s = await schedule(alice, { overlapPolicy: 'allow' });
    h.clock.set('2030-01-06T10:00:01Z');
    const registry = new Registry();
    const loop = startScheduleLoop({ ...(await replica()), intervalMs: 20, metrics: createScheduleMetrics(registry) });
    const deadline = Date.now() + 10_000;
    while ((await runsOf(s.id)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await loop.stop();
    expect(await runsOf(s.id)).toHaveLength(1);
    const metrics = await registry.getMetricsAsJSON();
    const fired = metrics.find((m) => m.name === 'csda_scheduler_schedule_outcomes_total')?.values.find((v) => v.labels.outcome === 'fired');
    expect(fired?.value).toBeGreaterThanOrEqual(1);
    expect(metrics.find((m) => m.name === 'csda_scheduler_schedule_last_tick_timestamp_seconds')?.values[0]?.value).toBeGreaterThan(0);
    h.clock.set('2030-01-06T11:00:01Z');
    await new Promise((r) => setTimeout(r, 150));
    expect(await runsOf(s.id)).toHaveLength(1);
  });
});
