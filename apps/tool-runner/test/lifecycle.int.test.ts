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
