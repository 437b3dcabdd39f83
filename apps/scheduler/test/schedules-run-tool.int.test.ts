import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { executionAudits, fakeGateway, firingOf, output, pythonTool, runTool, until } from './run-tool-support.ts';
import { openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const at = (iso: string) => new Date(new Date(iso).getTime() + 1_000).toISOString();

/**
 * run_tool schedules end to end: the loop claims a slot and asks the real
 * tool-runner (its own process, real sandbox) for an execution as the
 * schedule's owner; the run records the execution id; the execution
 * completes with the fixed input. GetUsers is a deps function (the gateway's answer).
 */
describe('scheduler: a run_tool schedule executes its tool as the owner', () => {
  let h: SchedulesHarness;
  const { gateway } = fakeGateway([alice]);

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-03-01T09:00:00Z', { toolRunnerEnv: { TOOLS_WAIT_MAX_S: '5' } });
  });
  afterAll(() => h?.close());
  // Each test's schedules stop firing at its end, so later ticks see only their own.
  afterEach(() => h.sql('update scheduler.schedules set enabled = false, next_run_at = null'));

  it('fires, the execution runs with the fixed input as the owner and completes; each slot runs it again', async () => {
    const tool = await pythonTool(h, alice, 'double', 'import json,sys\nd=json.load(sys.stdin)\nprint(json.dumps({"twice": d["n"]*2}))', {
      inputSchema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
    });
    h.clock.set('2030-03-01T09:00:00Z');
    const asAlice = await h.as(alice);
    const { schedule } = await h.scheduler.createSchedule({ name: 'double', cron: '*/10 * * * *', timeZone: 'UTC', target: runTool(tool.id, { n: 21 }), enabled: true }, asAlice);
    expect(schedule!.target?.kind).toMatchObject({ case: 'runTool', value: { toolId: tool.id } });
    const firing = firingOf(h, gateway);

    const executions: string[] = [];
    for (const [i, slot] of ['2030-03-01T09:10:00Z', '2030-03-01T09:20:00Z'].entries()) {
      h.clock.set(at(slot));
      expect(await firing.tick()).toMatchObject({ fired: 1, recorded: 0 });
      const runs = (await h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice)).items;
      expect(runs).toHaveLength(i + 1);
      // The run records the execution the tool-runner created, queued: its status is the execution's own (GET /api/v1/tools/executions/{id}).
      expect(runs[0]).toMatchObject({ status: 'queued', scheduledForMs: BigInt(new Date(slot).getTime()), detail: '' });
      expect(runs[0]!.jobId).toMatch(UUID);
      executions.push(runs[0]!.jobId);

      const asAliceTools = await h.as(alice, 'tool-runner');
      const done = await until(
        async () => (await h.toolRunner!.getExecution({ id: runs[0]!.jobId }, asAliceTools)).execution!,
        (e) => !['queued', 'running'].includes(e.status),
      );
      expect(done, JSON.stringify(done.error)).toMatchObject({ status: 'completed', toolId: tool.id, ownerId: alice.id, toolVersion: 1 });
      expect(output(done)).toEqual({ twice: 42 });
    }
    expect(new Set(executions).size).toBe(2);

    // The tool-runner saw the scheduler acting for alice, not alice herself and not the scheduler alone.
    const queued = (await executionAudits(h, executions[0]!)).find((a) => a.action === 'tool_execution_queued');
    expect(queued).toMatchObject({ actor: 'service:scheduler', details: { tool_id: tool.id, on_behalf_of: alice.id } });
    expect((await h.scheduler.getSchedule({ id: schedule!.id }, asAlice)).schedule).toMatchObject({ lastRunStatus: 'queued', lastRunAtMs: BigInt(Date.parse('2030-03-01T09:20:00Z')) });
  });

  it('overlap forbid: a slot is skipped while the previous execution still runs, and fires once it is over', async () => {
    const slow = await pythonTool(h, alice, 'slow', 'import time\ntime.sleep(60)', { timeoutS: 120 });
    h.clock.set('2030-03-02T09:00:00Z');
    const asAlice = await h.as(alice);
    const asAliceTools = await h.as(alice, 'tool-runner');
    const { schedule } = await h.scheduler.createSchedule({ name: 'slow', cron: '*/10 * * * *', timeZone: 'UTC', target: runTool(slow.id), enabled: true }, asAlice);
    expect(schedule!.overlapPolicy).toBe('forbid');
    const firing = firingOf(h, gateway);
    const runs = async () => (await h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice)).items;

    h.clock.set(at('2030-03-02T09:10:00Z'));
    expect((await firing.tick()).fired).toBe(1);
    const first = (await runs())[0]!.jobId;
    await until(
      async () => (await h.toolRunner!.getExecution({ id: first }, asAliceTools)).execution!.status,
      (s) => s === 'running',
    );

    h.clock.set(at('2030-03-02T09:20:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 1 });
    expect((await runs())[0]).toMatchObject({ status: 'skipped', jobId: '', detail: `previous run still running (execution ${first} is running)` });

    await h.toolRunner!.cancelExecution({ id: first }, asAliceTools);
    h.clock.set(at('2030-03-02T09:30:00Z'));
    expect((await firing.tick()).fired).toBe(1);
    const latest = (await runs())[0]!;
    expect(latest).toMatchObject({ status: 'queued', scheduledForMs: BigInt(Date.parse('2030-03-02T09:30:00Z')) });
    expect(latest.jobId).not.toBe(first);
    await h.toolRunner!.cancelExecution({ id: latest.jobId }, asAliceTools);
  });

  it('overlap allow: a slot fires while the previous execution still runs', async () => {
    const slow = await pythonTool(h, alice, 'slow-allowed', 'import time\ntime.sleep(60)', { timeoutS: 120 });
    h.clock.set('2030-03-03T09:00:00Z');
    const asAlice = await h.as(alice);
    const asAliceTools = await h.as(alice, 'tool-runner');
    const { schedule } = await h.scheduler.createSchedule({ name: 'allowed', cron: '*/10 * * * *', timeZone: 'UTC', target: runTool(slow.id), enabled: true, overlapPolicy: 'allow' }, asAlice);
    const firing = firingOf(h, gateway);
    for (const slot of ['2030-03-03T09:10:00Z', '2030-03-03T09:20:00Z']) {
      h.clock.set(at(slot));
      expect((await firing.tick()).fired).toBe(1);
    }
    const items = (await h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, asAlice)).items;
    expect(items.map((r) => r.status)).toEqual(['queued', 'queued']);
    for (const r of items) await h.toolRunner!.cancelExecution({ id: r.jobId }, asAliceTools);
  });
});
