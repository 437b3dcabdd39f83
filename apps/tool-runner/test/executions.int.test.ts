import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actingFor, createInternalTokenSigner, parseSigningKey, principalHeaders, servicePrincipal } from '@csda/auth';
import { query, waitFor } from '@csda/testing';
import { describeError, json, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

let h: Harness;
let tr: ToolRunner;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('tools-exec');
  tr = await h.start({ TOOLS_USER_MAX_RUNNING: '3', TOOLS_MAX_CONCURRENCY: '4', TOOLS_WAIT_MAX_S: '20' });
});
afterAll(() => h?.close());

async function pythonTool(name: string, code: string, extra: Parameters<typeof toolInput>[0] = {}, owner = alice) {
  return (await tr.client.createTool({ tool: toolInput({ name, toolType: 'python_script', config: { code }, ...extra }) }, await h.as(owner))).tool!;
}
const run = async (toolId: string, input: unknown, wait = true, who = alice) => (await tr.client.executeTool({ id: toolId, input: value(input), wait }, await h.as(who))).execution!;

describe('executions', () => {
  it('runs python with the input on stdin and stores JSON output (wait), records version and audit', async () => {
    const tool = await pythonTool(
      'double',
      'import json,sys\nd=json.load(sys.stdin)\nprint(json.dumps({"twice": d["n"]*2}))\nsys.stderr.write("note")',
      { inputSchema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } },
    );
    const e = await run(tool.id, { n: 987654321 });
    expect(e).toMatchObject({ status: 'completed', toolVersion: 1, stderr: 'note', exitCode: 0, truncated: false });
    expect(json(e)).toEqual({ twice: 1975308642 });
    expect(Number(e.durationMs)).toBeGreaterThan(0);
    const audits = (await h.audits(`execution:${e.id}`)).map((a) => a.action);
    await waitFor(async () => (await h.audits(`execution:${e.id}`)).length >= 3, { what: 'execution audits' });
    expect(audits[0]).toBe('tool_execution_queued');
    const all = (await h.audits(`execution:${e.id}`)).map((a) => a.action);
    expect(all).toEqual(expect.arrayContaining(['tool_execution_started', 'tool_execution_finished']));
    // No input values in audit details.
    expect(JSON.stringify(await h.audits(`execution:${e.id}`))).not.toContain('987654321');

    const stats = await tr.client.getToolStats({ id: tool.id }, await h.as(alice));
    expect(stats).toMatchObject({ executions: 1n, completed: 1n });
    const list = await tr.client.listExecutions({ toolId: tool.id }, await h.as(alice));
    expect(list.items.map((x) => x.id)).toEqual([e.id]);
  });

  it('refuses input that does not match input_schema, naming the paths, before anything runs', async () => {
    const tool = await pythonTool('strict', 'print(1)', { inputSchema: { type: 'object', required: ['n'], properties: { n: { type: 'integer', maximum: 5 }, s: { type: 'string', format: 'email' } }, additionalProperties: false } });
    const err = await describeError(tr.client.executeTool({ id: tool.id, input: value({ n: 9, s: 'nope', extra: 1 }), wait: true }, await h.as(alice)));
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(Object.keys(err.details)).toEqual(expect.arrayContaining(['input.n', 'input.s', 'input']));
    const missing = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: true }, await h.as(alice)));
    expect(Object.keys(missing.details)).toContain('input.n');
    const [row] = await query<{ n: number }>(h.db.url, 'select count(*)::int as n from tools.executions where tool_id = $1', [tool.id]);
    expect(row!.n).toBe(0);
  });

  it('runs async: 202-style queued answer, then completed when polled; not visible to others', async () => {
    const tool = await pythonTool('async', 'print("plain text")', { isPublic: true });
    const queued = await run(tool.id, {}, false);
    expect(queued.status).toBe('queued');
    await waitFor(async () => (await tr.client.getExecution({ id: queued.id }, await h.as(alice))).execution!.status === 'completed', { what: 'completed' });
    const done = (await tr.client.getExecution({ id: queued.id }, await h.as(alice))).execution!;
    expect(json(done)).toBe('plain text\n');
    expect((await describeError(tr.client.getExecution({ id: queued.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
    // bob may run the public tool; his executions are his, alice (owner) sees them too.
    const bobs = await run(tool.id, {}, true, bob);
    expect(bobs.status).toBe('completed');
    expect((await tr.client.listExecutions({ toolId: tool.id }, await h.as(bob))).items.map((x) => x.id)).toEqual([bobs.id]);
    const ownerView = await tr.client.listExecutions({ toolId: tool.id }, await h.as(alice));
    expect(ownerView.total).toBe(2n);
    // The owner sees bob's execution but not his data.
    const bobsSeenByOwner = ownerView.items.find((x) => x.id === bobs.id)!;
    expect(bobsSeenByOwner.status).toBe('completed');
    expect(json(bobsSeenByOwner)).toBeNull();
    expect(json(ownerView.items.find((x) => x.id === queued.id))).toBe('plain text\n');
  });

  it('times out with "killed after N s", cuts output at the limit, and fails on a non-zero exit', async () => {
    const slow = await pythonTool('slow', 'import time\ntime.sleep(30)', { timeoutS: 1 });
    const t = await run(slow.id, {});
    expect(t.status).toBe('timed_out');
    expect(t.error).toMatchObject({ code: 'TIMED_OUT' });
    expect(t.error!.message).toMatch(/killed after 1 s/);

    const loud = await pythonTool('loud', 'import sys\nsys.stdout.write("x" * 5000000)', { maxOutputBytes: 1024n });
    const o = await run(loud.id, {});
    expect(o).toMatchObject({ status: 'failed', truncated: true });
    expect(o.error).toMatchObject({ code: 'OUTPUT_LIMIT' });
    expect(o.error!.message).toMatch(/output cut at 1 KiB/);
    expect(String(json(o)).length).toBeLessThanOrEqual(1024);

    const bad = await pythonTool('exit3', 'import sys\nsys.exit(3)');
    const b = await run(bad.id, {});
    expect(b).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(b.error?.code).toBe('EXIT_CODE');

    const stats = await tr.client.getToolStats({ id: slow.id }, await h.as(alice));
    expect(stats).toMatchObject({ executions: 1n, timedOut: 1n, completed: 0n });
    expect(stats.p50DurationMs).toBeGreaterThanOrEqual(1_000n);
    expect(stats.p95DurationMs).toBeGreaterThanOrEqual(stats.p50DurationMs);
    expect(stats.lastExecutedAtMs).toBeGreaterThan(0n);

    const net = await pythonTool('net', 'import socket\nsocket.create_connection(("127.0.0.1", 9), timeout=2)');
    const n = await run(net.id, {});
    expect(n.status).toBe('failed');
    expect(n.stderr).toMatch(/Error/);
  });

  it('cancels a queued or running execution', async () => {
    const tool = await pythonTool('sleeper', 'import time\ntime.sleep(60)', { timeoutS: 120 });
    const e = await run(tool.id, {}, false);
    await waitFor(async () => (await tr.client.getExecution({ id: e.id }, await h.as(alice))).execution!.status === 'running', { what: 'running' });
    const started = Date.now();
    const c = (await tr.client.cancelExecution({ id: e.id }, await h.as(alice))).execution!;
    expect(c.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(4_000);
    // Cancelling a finished one changes nothing.
    expect((await tr.client.cancelExecution({ id: e.id }, await h.as(alice))).execution!.status).toBe('cancelled');
    expect((await describeError(tr.client.cancelExecution({ id: e.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
  });

  it('limits executions in flight per user, naming the limit', async () => {
    const tool = await pythonTool('hold', 'import time\ntime.sleep(20)', { timeoutS: 60 });
    const held = [await run(tool.id, {}, false), await run(tool.id, {}, false), await run(tool.id, {}, false)];
    const err = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice)));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.message).toMatch(/At most 3 executions/);
    // Another user is not affected.
    const pub = await pythonTool('hold-pub', 'print(1)', { isPublic: true });
    expect((await run(pub.id, {}, true, bob)).status).toBe('completed');
    for (const e of held) await tr.client.cancelExecution({ id: e.id }, await h.as(alice));
    expect((await run(pub.id, {}, true)).status).toBe('completed');
  });

  it('runs an execution once when its job is delivered twice under different message ids', async () => {
    const tool = await pythonTool('once', 'import time\ntime.sleep(1)\nprint(1)');
    const e = await run(tool.id, {}, false);
    await h.publishJob({ executionId: e.id, toolId: tool.id, toolVersion: 1, enqueuedAtMs: BigInt(Date.now()) }, `dup-a:${e.id}`);
    await h.publishJob({ executionId: e.id, toolId: tool.id, toolVersion: 1, enqueuedAtMs: BigInt(Date.now()) }, `dup-b:${e.id}`);
    await waitFor(async () => (await tr.client.getExecution({ id: e.id }, await h.as(alice))).execution!.status === 'completed', { what: 'completed' });
    await new Promise((r) => setTimeout(r, 1_500));
    await waitFor(async () => (await h.audits(`execution:${e.id}`)).some((a) => a.action === 'tool_execution_finished'), { what: 'finished audit' });
    const started = (await h.audits(`execution:${e.id}`)).filter((a) => a.action === 'tool_execution_started');
    expect(started).toHaveLength(1);
  });

  it('passes shell metacharacters to the program as one literal argument', async () => {
    const tool = (
      await tr.client.createTool(
        { tool: toolInput({ name: 'echo-args', toolType: 'shell_command', config: { command: ['printf', '%s|', '{{a}}', '--x={{a}}'] }, inputSchema: { type: 'object', properties: { a: { type: 'string' } } } }) },
        await h.as(alice),
      )
    ).tool!;
    for (const hostile of ['; rm -rf /', '$(id)', '`id`', 'a\nb', '--output=/etc/x', "' \" && echo pwned", '| cat /etc/passwd']) {
      const e = await run(tool.id, { a: hostile });
      expect(e.status).toBe('completed');
      expect(json(e)).toBe(`${hostile}|--x=${hostile}|`);
    }
  });

  it('lets the scheduler run a tool acting for its owner, scoped to exactly that tool', async () => {
    const tool = await pythonTool('scheduled', 'print(42)');
    const other = await pythonTool('other', 'print(0)');
    const scheduler = createInternalTokenSigner({ key: parseSigningKey('scheduler', h.keys.signingKeys.scheduler!) });
    const asSchedule = async (toolId: string) => ({
      headers: principalHeaders(await scheduler.sign(actingFor(servicePrincipal('scheduler', []), { id: alice.id, name: alice.name, roles: [...alice.roles] }, [['tools:execute', toolId], ['tools:read', toolId]]), 'tool-runner')),
    });
    const e = (await tr.client.executeTool({ id: tool.id, input: value({}), wait: true }, await asSchedule(tool.id))).execution!;
    expect(e).toMatchObject({ status: 'completed', ownerId: alice.id });
    expect((await tr.client.getExecution({ id: e.id }, await asSchedule(tool.id))).execution!.status).toBe('completed');
    expect((await tr.client.getTool({ id: tool.id }, await asSchedule(tool.id))).tool!.id).toBe(tool.id);
    expect((await describeError(tr.client.getTool({ id: other.id }, await asSchedule(tool.id)))).code).toBe('AUTHORIZATION_ERROR');
    const refused = await describeError(tr.client.executeTool({ id: other.id, input: value({}), wait: true }, await asSchedule(tool.id)));
    expect(refused.code).toBe('AUTHORIZATION_ERROR');
    expect((await describeError(tr.client.listTools({}, await asSchedule(tool.id)))).code).toBe('AUTHORIZATION_ERROR');
  });
});
