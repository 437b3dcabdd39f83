import { Code } from '@connectrpc/connect';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeGateway, firingOf, pythonTool, runTool, toolChanged } from './run-tool-support.ts';
import { failure, openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const bob = user('bob');
// Her own user for the per-user limit, so no other test's executions count against it.
const carol = user('carol');
const without = (u: typeof alice, ...drop: string[]) => ({ ...u, permissions: u.permissions.filter((p) => !drop.includes(p)) });
const at = (iso: string) => new Date(new Date(iso).getTime() + 1_000).toISOString();

/**
 * What a run_tool schedule refuses at create/update (422 naming the field,
 * checked as the owner against the real tool-runner) and what its runs record
 * when the owner lost access, the tool went away or changed, the owner's
 * limit is reached or the tool-runner does not answer.
 */
describe('scheduler: run_tool refusals', () => {
  let h: SchedulesHarness;
  const { gateway, owners } = fakeGateway([alice, bob, carol]);

  beforeAll(async () => {
    h = await openSchedulesHarness('2030-04-01T09:00:00Z', { toolRunnerEnv: { TOOLS_USER_MAX_RUNNING: '1' } });
  });
  afterAll(() => h?.close());
  afterEach(async () => {
    await h.sql('update scheduler.schedules set enabled = false, next_run_at = null');
    for (const u of [alice, bob, carol]) owners.set(u.id, { active: true, permissions: u.permissions });
  });

  const create = async (owner: typeof alice, name: string, target: ReturnType<typeof runTool>, extra: Record<string, unknown> = {}) =>
    h.scheduler.createSchedule({ name, cron: '*/10 * * * *', timeZone: 'UTC', target, enabled: true, ...extra }, await h.as(owner));
  const lastRun = async (owner: typeof alice, scheduleId: string) => (await h.scheduler.listScheduleRuns({ scheduleId }, await h.as(owner))).items[0]!;

  it('create and update name each bad field: a tool the owner may not run, missing permissions, input not an object', async () => {
    const bobsPrivate = await pythonTool(h, bob, 'bobs', 'print(1)');
    const bobsPublic = await pythonTool(h, bob, 'bobs-public', 'print(1)', { isPublic: true });
    const own = await pythonTool(h, alice, 'own', 'print(1)');

    const notVisible = await failure(create(alice, 'x', runTool(bobsPrivate.id, {})));
    expect(notVisible).toMatchObject({ code: Code.InvalidArgument, fields: { 'target.tool_id': 'no such tool, or not one you may run' } });
    const unknown = await failure(create(alice, 'x', runTool('00000000-0000-4000-8000-000000000000', {})));
    expect(unknown.fields).toEqual({ 'target.tool_id': 'no such tool, or not one you may run' });
    const noExecute = await failure(create(without(alice, 'tools:execute'), 'x', runTool(own.id, {})));
    expect(noExecute.fields).toEqual({ 'target.tool_id': 'running a tool on a schedule needs tools:execute' });
    const everything = await failure(create(alice, 'x', runTool('not-a-uuid', [1, 2]), { cron: 'every day', timeZone: 'Mars/Olympus' }));
    expect(Object.keys(everything.fields).sort()).toEqual(['cron', 'target.input', 'target.tool_id', 'time_zone']);
    expect(everything.fields['target.input']).toBe('a JSON object');

    // Public tools of others may be scheduled; the stored target reads back as given.
    const { schedule } = await create(alice, 'public', runTool(bobsPublic.id, { q: 'x' }));
    expect(schedule!.target!.kind).toMatchObject({ case: 'runTool', value: { toolId: bobsPublic.id } });
    const asAlice = await h.as(alice);
    const refused = await failure(h.scheduler.updateSchedule({ id: schedule!.id, target: runTool(bobsPrivate.id, {}) }, asAlice));
    expect(refused.fields).toEqual({ 'target.tool_id': 'no such tool, or not one you may run' });
    const updated = (await h.scheduler.updateSchedule({ id: schedule!.id, target: runTool(own.id, { n: 1 }) }, asAlice)).schedule!;
    expect(updated.target!.kind).toMatchObject({ case: 'runTool', value: { toolId: own.id } });
    expect((await h.scheduler.listSchedules({ targetType: 'run_tool' }, asAlice)).items.map((s) => s.id)).toEqual([schedule!.id]);
  });

  it('a run records why it could not start: permission gone, tool no longer shared, tool deleted, input now invalid', async () => {
    h.clock.set('2030-04-02T09:00:00Z');
    const shared = await pythonTool(h, bob, 'shared', 'print(1)', { isPublic: true });
    const doomed = await pythonTool(h, alice, 'doomed', 'print(1)');
    const strict = await pythonTool(h, alice, 'strict', 'print(1)');
    const own = await pythonTool(h, bob, 'perm', 'print(1)');
    const s = {
      shared: (await create(alice, 'shared', runTool(shared.id, {}))).schedule!,
      doomed: (await create(alice, 'doomed', runTool(doomed.id, {}))).schedule!,
      strict: (await create(alice, 'strict', runTool(strict.id, { n: 'seven' }))).schedule!,
      perm: (await create(bob, 'perm', runTool(own.id, {}))).schedule!,
    };
    // The owners' access changes after the schedules were made.
    await h.toolRunner!.updateTool({ id: shared.id, tool: toolChanged(shared, { isPublic: false }) }, await h.as(bob, 'tool-runner'));
    await h.toolRunner!.deleteTool({ id: doomed.id }, await h.as(alice, 'tool-runner'));
    const schema = { type: 'object', required: ['n', 'pattern'], properties: { n: { type: 'integer' }, pattern: { type: 'string' } } };
    await h.toolRunner!.updateTool({ id: strict.id, tool: toolChanged(strict, { inputSchema: schema }) }, await h.as(alice, 'tool-runner'));
    owners.set(bob.id, { active: true, permissions: without(bob, 'tools:execute').permissions });

    h.clock.set(at('2030-04-02T09:10:00Z'));
    expect(await firingOf(h, gateway).tick()).toMatchObject({ fired: 0, recorded: 4 });

    const shRun = await lastRun(alice, s.shared.id);
    expect(shRun).toMatchObject({ status: 'failed', jobId: '' });
    expect(shRun.detail).toBe(`tool ${shared.id}: the tool-runner refused: Tool ${shared.id} not found (NOT_FOUND; resource: tool; identifier: ${shared.id})`);
    expect((await lastRun(alice, s.doomed.id)).detail).toContain(`the tool-runner refused: Tool ${doomed.id} not found (NOT_FOUND`);
    const invalid = (await lastRun(alice, s.strict.id)).detail;
    expect(invalid).toMatch(new RegExp(`^tool ${strict.id}: the tool-runner refused: Input does not match the tool's input_schema: .*\\(VALIDATION_ERROR; `));
    expect(invalid).toContain('pattern');
    expect(invalid).toContain('n:');
    expect(await lastRun(bob, s.perm.id)).toMatchObject({
      status: 'failed',
      detail: `tool ${own.id}: the owner no longer may run it (running a tool on a schedule needs tools:execute)`,
    });
    expect((await h.scheduler.getSchedule({ id: s.strict.id }, await h.as(alice))).schedule!.lastRunStatus).toBe('failed');
  });

  it("the owner's running limit reached: the run records the tool-runner's 429 message naming the limit", async () => {
    h.clock.set('2030-04-03T09:00:00Z');
    const slow = await pythonTool(h, carol, 'hold', 'import time\ntime.sleep(60)', { timeoutS: 120 });
    const quick = await pythonTool(h, carol, 'quick', 'print(1)');
    const { schedule } = await create(carol, 'limited', runTool(quick.id, {}));
    const asCarolTools = await h.as(carol, 'tool-runner');
    const held = (await h.toolRunner!.executeTool({ id: slow.id, wait: false }, asCarolTools)).execution!;

    h.clock.set(at('2030-04-03T09:10:00Z'));
    expect(await firingOf(h, gateway).tick()).toMatchObject({ fired: 0, recorded: 1 });
    const run = await lastRun(carol, schedule!.id);
    expect(run.status).toBe('failed');
    expect(run.detail).toMatch(/^tool [0-9a-f-]{36}: the tool-runner refused: At most 1 executions may be queued or running per user at once \(TOOLS_USER_MAX_RUNNING\).*\(RATE_LIMITED; .*limit: 1/);
    await h.toolRunner!.cancelExecution({ id: held.id }, asCarolTools);
  });

  it('a tool-runner that does not answer keeps the slot for the grace period, then the run is failed saying so', async () => {
    h.clock.set('2030-04-04T09:00:00Z');
    const tool = await pythonTool(h, alice, 'unreached', 'print(1)');
    const { schedule } = await create(alice, 'unreached', runTool(tool.id, {}));
    // Nothing listens on port 9.
    const firing = firingOf(h, gateway, { toolRunner: createServiceClient(ToolRunnerService, 'http://127.0.0.1:9'), graceMs: 60_000 });
    h.clock.set(at('2030-04-04T09:10:00Z'));
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 0 });
    expect((await h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, await h.as(alice))).items).toHaveLength(0);
    h.clock.set('2030-04-04T09:11:02Z');
    expect(await firing.tick()).toMatchObject({ fired: 0, recorded: 1 });
    const run = await lastRun(alice, schedule!.id);
    expect(run).toMatchObject({ status: 'failed', scheduledForMs: BigInt(Date.parse('2030-04-04T09:10:00Z')) });
    expect(run.detail).toBe('could not start: the tool-runner did not answer (Unavailable); retried for 61 s');
  });
});
