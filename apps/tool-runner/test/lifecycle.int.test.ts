import { once } from 'node:events';
import { runCommand, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, toolInput, user, value, type Harness } from './support/harness.ts';

let h: Harness;
const alice = user('alice');

beforeAll(async () => {
  h = await startHarness('tools-lifecycle', { TOOLS_LEASE_S: '3' });
});
afterAll(() => h?.close());

describe('replicas', () => {
  it('fails an execution whose replica was killed mid-run with RUNNER_LOST once its lease expires', async () => {
    const a = await h.start();
    const tool = (await a.client.createTool({ tool: toolInput({ name: 'long', toolType: 'python_script', config: { code: 'import time\ntime.sleep(120)' }, timeoutS: 300 }) }, await h.as(alice))).tool!;
    const e = (await a.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice))).execution!;
    await waitFor(async () => (await a.client.getExecution({ id: e.id }, await h.as(alice))).execution!.status === 'running', { what: 'running on A' });
    const exited = once(a.process, 'exit');
    a.process.kill('SIGKILL');
    await exited;
    const b = await h.start();
    await waitFor(async () => (await b.client.getExecution({ id: e.id }, await h.as(alice))).execution!.status !== 'running', { what: 'swept', timeoutMs: 20_000 });
    const lost = (await b.client.getExecution({ id: e.id }, await h.as(alice))).execution!;
    expect(lost.status).toBe('failed');
    expect(lost.error).toMatchObject({ code: 'RUNNER_LOST' });
    expect(lost.error!.message).toMatch(/runner lost/);
    // B still runs new work.
    const quick = (await b.client.createTool({ tool: toolInput({ name: 'quick', toolType: 'python_script', config: { code: 'print(7)' } }) }, await h.as(alice))).tool!;
    const done = (await b.client.executeTool({ id: quick.id, input: value({}), wait: true }, await h.as(alice))).execution!;
    expect(done.status).toBe('completed');
    // Later tests need to know which replica consumes.
    await b.stop();
  });

  it('refuses bad settings with exit code 78 naming the variable', async () => {
    for (const [name, bad] of [
      ['TOOLS_SANDBOX', 'docker'],
      ['TOOLS_MAX_CONCURRENCY', '0'],
      ['TOOLS_HTTP_ALLOW', 'not a cidr/99'],
      ['TOOLS_WAIT_MAX_S', 'soon'],
      ['TOOLS_MAX_TIMEOUT_S', '-1'],
    ] as const) {
      const r = await runCommand('tool-runner', 'serve', { ...h.env, [name]: bad }, 30_000);
      expect(r.code, `${name}=${bad}`).toBe(78);
      expect(`${r.stdout}${r.stderr}`).toContain(name);
    }
  });
});

describe('shutdown and deletion', () => {
  it('records RUNNER_STOPPED for what runs when a replica is stopped, and fails queued work of a deleted tool', async () => {
    const a = await h.start();
    const tool = (await a.client.createTool({ tool: toolInput({ name: 'stopped', toolType: 'python_script', config: { code: 'import time\ntime.sleep(120)' } }) }, await h.as(alice))).tool!;
    const e = (await a.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice))).execution!;
    await waitFor(async () => (await a.client.getExecution({ id: e.id }, await h.as(alice))).execution!.status === 'running', { what: 'running' });
    expect(await a.stop()).toBe(0);
    const b = await h.start();
    const stopped = (await b.client.getExecution({ id: e.id }, await h.as(alice))).execution!;
    expect(stopped.status).toBe('failed');
    expect(stopped.error).toMatchObject({ code: 'RUNNER_STOPPED' });
    await b.stop();

    // No replica consumes: the execution stays queued while its tool is deleted; the next replica fails it.
    const c = await h.start({ TOOLS_MAX_CONCURRENCY: '1' });
    const gone = (await c.client.createTool({ tool: toolInput({ name: 'gone', toolType: 'python_script', config: { code: 'print(1)' } }) }, await h.as(alice))).tool!;
    const blocker = (await c.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice))).execution!;
    await waitFor(async () => (await c.client.getExecution({ id: blocker.id }, await h.as(alice))).execution!.status === 'running', { what: 'blocker running' });
    const queued = (await c.client.executeTool({ id: gone.id, input: value({}), wait: false }, await h.as(alice))).execution!;
    await c.client.deleteTool({ id: gone.id }, await h.as(alice));
    await c.client.cancelExecution({ id: blocker.id }, await h.as(alice));
    await waitFor(async () => (await c.client.getExecution({ id: queued.id }, await h.as(alice))).execution!.status === 'failed', { what: 'failed' });
    expect((await c.client.getExecution({ id: queued.id }, await h.as(alice))).execution!.error).toMatchObject({ code: 'TOOL_GONE' });
  });
});

describe('lost jobs', () => {
  it('fails an execution nobody took within TOOLS_QUEUE_MAX_S (QUEUE_EXPIRED), freeing the user limit', async () => {
    const a = await h.start({ TOOLS_QUEUE_MAX_S: '10' });
    const tool = (await a.client.createTool({ tool: toolInput({ name: 'lost', toolType: 'python_script', config: { code: 'print(1)' } }) }, await h.as(alice))).tool!;
    const e = (await a.client.executeTool({ id: tool.id, input: value({}), wait: true }, await h.as(alice))).execution!;
    expect(e.status).toBe('completed');
    // A queued execution whose job never arrived (inserted as if its publish was lost), created 11 s ago.
    const { query } = await import('@csda/testing');
    const lostId = '00000000-0000-4000-8000-00000000abcd';
    await query(h.db.url, `insert into tools.executions (id, tool_id, tool_version, owner_id, status, input, created_at) values ($1, $2, 1, $3, 'queued', '{}', now() - interval '11 seconds')`, [lostId, tool.id, alice.id]);
    await waitFor(async () => (await a.client.getExecution({ id: lostId }, await h.as(alice))).execution!.status === 'failed', { what: 'expired', timeoutMs: 10_000 });
    expect((await a.client.getExecution({ id: lostId }, await h.as(alice))).execution!.error).toMatchObject({ code: 'QUEUE_EXPIRED', message: expect.stringMatching(/not started within 10 s/) });
    await a.stop();
  });
});
