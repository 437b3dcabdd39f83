import { randomUUID } from 'node:crypto';
import { deleteNamespace, testNamespace } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runTool as runToolTarget } from '../src/schedules/run-tool.target.ts';
import { fakeGateway, firingOf, pythonTool, runTool, startEventsConsumer, until } from './run-tool-support.ts';
import { openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const at = (iso: string) => new Date(new Date(iso).getTime() + 1_000).toISOString();

/**
 * run_tool runs end: the real tool-runner reports the executions a schedule
 * started as JobResults (its outbox → EVENTS), the scheduler's EVENTS
 * consumer folds them into job records keyed by the execution id, and the
 * run (and the schedule's last run status) reads succeeded or failed.
 */
describe('scheduler: a run_tool run ends with its execution', () => {
  const namespace = testNamespace();
  let h: SchedulesHarness;
  let stopEvents: (() => Promise<void>) | undefined;
  const { gateway } = fakeGateway([alice]);

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-04-01T09:00:00Z', { vaultNamespace: namespace, toolRunnerEnv: { TOOLS_WAIT_MAX_S: '5' } });
    stopEvents = await startEventsConsumer(h, namespace);
  });
  afterAll(async () => {
    await stopEvents?.();
    await h?.close();
    await deleteNamespace(namespace);
  });
  afterEach(() => h.sql('update scheduler.schedules set enabled = false, next_run_at = null'));

  async function fireOnce(toolId: string, day: string) {
    h.clock.set(`${day}T09:00:00Z`);
    const asAlice = await h.as(alice);
    const { schedule } = await h.scheduler.createSchedule({ name: `s-${day}`, cron: '*/10 * * * *', timeZone: 'UTC', target: runTool(toolId, {}), enabled: true }, asAlice);
    h.clock.set(at(`${day}T09:10:00Z`));
    expect((await firingOf(h, gateway).tick()).fired).toBe(1);
    const runs = () => h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice);
    const run = await until(
      async () => (await runs()).items[0]!,
      (r) => r.status === 'succeeded' || r.status === 'failed',
    );
    return { schedule: schedule!, run, asAlice };
  }

  it('a due run ends succeeded with the execution id, and so does the schedule last run status', async () => {
    const tool = await pythonTool(h, alice, 'ok', 'print(1)');
    const { schedule, run, asAlice } = await fireOnce(tool.id, '2030-04-01');
    expect(run).toMatchObject({ status: 'succeeded', detail: '' });
    const execution = (await h.toolRunner!.getExecution({ id: run.jobId }, await h.as(alice, 'tool-runner'))).execution!;
    expect(execution).toMatchObject({ status: 'completed', toolId: tool.id });
    expect(Number(run.finishedAtMs)).toBeGreaterThan(0);
    expect((await h.scheduler.getSchedule({ id: schedule.id }, asAlice)).schedule!.lastRunStatus).toBe('succeeded');
    const [job] = await h.sql<{ type: string; trigger: string; schedule_id: string; owner_id: string }>('select type, trigger, schedule_id, owner_id from scheduler.jobs where id = $1', [run.jobId]);
    expect(job).toEqual({ type: 'run_tool', trigger: 'schedule', schedule_id: schedule.id, owner_id: alice.id });
  });

  it("a failing tool's run ends failed with the execution's error message", async () => {
    const tool = await pythonTool(h, alice, 'fails', 'import sys\nsys.exit(3)');
    const { schedule, run, asAlice } = await fireOnce(tool.id, '2030-04-02');
    const execution = (await h.toolRunner!.getExecution({ id: run.jobId }, await h.as(alice, 'tool-runner'))).execution!;
    expect(execution.status).toBe('failed');
    expect(run.status).toBe('failed');
    expect(run.detail).toContain(execution.error!.message);
    expect((await h.scheduler.getSchedule({ id: schedule.id }, asAlice)).schedule!.lastRunStatus).toBe('failed');
  });

  it('firing one slot again (a retry after a lost commit) gets the same execution back', async () => {
    const tool = await pythonTool(h, alice, 'once', 'print(2)');
    const deps = { toolRunner: h.clients.toolRunner, documents: h.clients.documents, asUser: h.clients.asUser, vault: h.clients.vault, enqueueRotations: async () => undefined };
    const owner = { id: alice.id, name: alice.name, roles: alice.roles, permissions: alice.permissions };
    const scheduleId = randomUUID();
    const scheduledFor = new Date('2030-04-03T09:10:00Z');
    const ctx = (runId: string) => ({ scheduleId, runId, scheduledFor, owner, em: h.orm.em.fork() as EntityManager });
    const data = { tool_id: tool.id, input: {} };
    const first = await runToolTarget.fire(deps, ctx(randomUUID()), data);
    const again = await runToolTarget.fire(deps, ctx(randomUUID()), data);
    const next = await runToolTarget.fire(deps, { ...ctx(randomUUID()), scheduledFor: new Date('2030-04-03T09:20:00Z') }, data);
    expect(first.status).toBe('queued');
    expect(again).toEqual(first);
    expect(next.status === 'queued' && first.status === 'queued' && next.jobId !== first.jobId).toBe(true);
    const [row] = await h.sql<{ n: number }>('select count(*)::int as n from tools.executions where tool_id = $1', [tool.id]);
    expect(row!.n).toBe(2);
  });
});
