import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

// A wait:true ExecuteTool runs its execution on the replica it landed on when a
// slot is free there; its job, still published, must then change nothing.
let h: Harness;
let tr: ToolRunner;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('tools-in-place');
  tr = await h.start({ TOOLS_MAX_CONCURRENCY: '2', TOOLS_USER_MAX_RUNNING: '6', TOOLS_WAIT_MAX_S: '20' });
});
afterAll(() => h?.close());

async function pythonTool(name: string, code: string, owner = alice, extra: Parameters<typeof toolInput>[0] = {}) {
  return (await tr.client.createTool({ tool: toolInput({ name, toolType: 'python_script', config: { code }, ...extra }) }, await h.as(owner))).tool!;
}
const run = async (toolId: string, wait = true, who = alice, on = tr) => (await on.client.executeTool({ id: toolId, input: value({}), wait }, await h.as(who))).execution!;
const started = async (id: string) => (await h.audits(`execution:${id}`)).filter((a) => a.action === 'tool_execution_started');
const row = async (id: string) =>
  (await query<{ status: string; runner_id: string | null; started_at: Date; completed_at: Date }>(h.db.url, 'select status, runner_id, started_at, completed_at from tools.executions where id = $1', [id]))[0]!;

/** Every job published so far was delivered and acknowledged (the work queue is empty). */
async function jobsSettled(): Promise<void> {
  await waitFor(
    async () => {
      const info = await h.nats.jsm.consumers.info(h.nats.subjects.stream('JOBS_TOOLS'), 'tool-runner-tool-jobs');
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { what: 'JOBS_TOOLS drained' },
  );
}

describe('wait: true with a free slot', () => {
  it('runs in place; the job delivered afterwards, and duplicates of it, run nothing again', async () => {
    const tool = await pythonTool('here', 'print(7)');
    const e = await run(tool.id);
    expect(e.status).toBe('completed');
    await jobsSettled();
    await h.publishJob({ executionId: e.id, toolId: tool.id, toolVersion: 1, enqueuedAtMs: BigInt(Date.now()) }, `dup-a:${e.id}`);
    await h.publishJob({ executionId: e.id.toUpperCase(), toolId: tool.id, toolVersion: 1, enqueuedAtMs: BigInt(Date.now()) }, `dup-b:${e.id}`);
    await jobsSettled();
    await waitFor(async () => (await h.audits(`execution:${e.id}`)).some((a) => a.action === 'tool_execution_finished'), { what: 'finished audit' });
    const starts = await started(e.id);
    expect(starts).toHaveLength(1);
    expect(starts[0]!.details.via).toBe('request');
    // The record is exactly what the call answered: claimed once, finished once.
    const stored = await row(e.id);
    expect(stored).toMatchObject({ status: 'completed', runner_id: starts[0]!.details.runner_id });
    expect(BigInt(stored.started_at.getTime())).toBe(e.startedAtMs);
    expect(BigInt(stored.completed_at.getTime())).toBe(e.completedAtMs);
    expect((await h.audits(`execution:${e.id}`)).filter((a) => a.action === 'tool_execution_finished')).toHaveLength(1);
  });

  it('shares TOOLS_MAX_CONCURRENCY with the queue: 5 waiting calls on 2 slots never run more than 2 at once, the rest through JOBS_TOOLS', async () => {
    const tool = await pythonTool('nap', 'import time\ntime.sleep(0.8)\nprint(1)');
    const done = await Promise.all(Array.from({ length: 5 }, () => run(tool.id)));
    expect(done.map((e) => e.status)).toEqual(Array(5).fill('completed'));
    const spans = done.map((e) => [Number(e.startedAtMs), Number(e.completedAtMs)] as const);
    const overlap = Math.max(...spans.map(([at]) => spans.filter(([s, c]) => s <= at && at < c).length));
    expect(overlap).toBeLessThanOrEqual(2);
    await waitFor(async () => (await Promise.all(done.map((e) => started(e.id)))).every((s) => s.length === 1), { what: 'started audits' });
    const via = (await Promise.all(done.map((e) => started(e.id)))).map((s) => s[0]!.details.via);
    expect(via.filter((v) => v === 'request').length).toBeLessThanOrEqual(2);
    expect(via.filter((v) => v === 'queue').length).toBeGreaterThanOrEqual(3);
  });

  it('still answers 429 at the per-user limit, and a refused call takes no slot', async () => {
    const tool = await pythonTool('limited', 'print(1)', alice, { isPublic: true });
    // Six executions of alice's that hold her limit but no slot (queued, their jobs never sent).
    const held = Array.from({ length: 6 }, (_, i) => `00000000-0000-4000-8000-0000000000${String(10 + i)}`);
    for (const id of held) await query(h.db.url, `insert into tools.executions (id, tool_id, tool_version, owner_id, status, input, created_at) values ($1, $2, 1, $3, 'queued', '{}', now())`, [id, tool.id, alice.id]);
    for (let i = 0; i < 3; i++) {
      const err = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: true }, await h.as(alice)));
      expect(err.code).toBe('RATE_LIMITED');
      expect(err.message).toMatch(/At most 6 executions.*TOOLS_USER_MAX_RUNNING/);
    }
    // Both slots are still free: bob's call runs in place.
    const b = await run(tool.id, true, bob);
    expect(b.status).toBe('completed');
    await waitFor(async () => (await started(b.id)).length === 1, { what: 'started audit' });
    expect((await started(b.id))[0]!.details.via).toBe('request');
    for (const id of held) expect((await tr.client.cancelExecution({ id }, await h.as(alice))).execution!.status).toBe('cancelled');
    expect((await run(tool.id)).status).toBe('completed');
  });

  it('lets exactly TOOLS_USER_MAX_RUNNING of 10 concurrent calls in', async () => {
    const carol = user('carol');
    const tool = await pythonTool('crowd', 'import time\ntime.sleep(30)', carol, { timeoutS: 60 });
    const options = await h.as(carol);
    const calls = await Promise.allSettled(Array.from({ length: 10 }, () => tr.client.executeTool({ id: tool.id, input: value({}), wait: false }, options)));
    const accepted = calls.flatMap((c) => (c.status === 'fulfilled' ? [c.value.execution!.id] : []));
    expect(accepted).toHaveLength(6);
    for (const c of calls) if (c.status === 'rejected') expect((await describeError(Promise.reject(c.reason as Error))).code).toBe('RATE_LIMITED');
    for (const id of accepted) await tr.client.cancelExecution({ id }, options);
  });

  it('cancels a run in place; the waiting call answers cancelled', async () => {
    const tool = await pythonTool('long-here', 'import time\ntime.sleep(60)', alice, { timeoutS: 120 });
    const waiting = run(tool.id);
    let id = '';
    await waitFor(
      async () => {
        const [r] = await query<{ id: string; status: string }>(h.db.url, 'select id, status from tools.executions where tool_id = $1', [tool.id]);
        id = r?.id ?? '';
        return r?.status === 'running';
      },
      { what: 'running' },
    );
    const t0 = Date.now();
    expect((await tr.client.cancelExecution({ id }, await h.as(alice))).execution!.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(4_000);
    const answered = await waiting;
    expect(answered).toMatchObject({ id, status: 'cancelled' });
    expect((await started(id))[0]?.details.via).toBe('request');
  });
});

describe('a run in place longer than TOOLS_WAIT_MAX_S', () => {
  it('answers running at the wait limit and finishes anyway', async () => {
    const short = await h.start({ TOOLS_WAIT_MAX_S: '1' });
    const tool = await pythonTool('outlast', 'import time\ntime.sleep(6)\nprint("late")');
    const t0 = Date.now();
    const e = await run(tool.id, true, alice, short);
    expect(e.status).toBe('running');
    expect(Date.now() - t0).toBeLessThan(5_000);
    await waitFor(async () => (await row(e.id)).status === 'completed', { what: 'completed after the answer' });
    expect((await started(e.id))[0]?.details.via).toBe('request');
    expect(await short.stop()).toBe(0);
  });
});

describe('a replica stopping with a run in place', () => {
  it('records RUNNER_STOPPED, and its job does not start it again elsewhere', async () => {
    const other = await h.start({ TOOLS_MAX_CONCURRENCY: '1' });
    const tool = await pythonTool('stop-here', 'import time\ntime.sleep(60)', alice, { timeoutS: 120 });
    const waiting = run(tool.id, true, alice, other).catch((err: unknown) => err);
    let id = '';
    await waitFor(
      async () => {
        const [r] = await query<{ id: string; status: string }>(h.db.url, 'select id, status from tools.executions where tool_id = $1', [tool.id]);
        id = r?.id ?? '';
        return r?.status === 'running';
      },
      { what: 'running on the other replica' },
    );
    const holder = (await row(id)).runner_id;
    expect(await other.stop()).toBe(0);
    await waiting;
    const stopped = (await tr.client.getExecution({ id }, await h.as(alice))).execution!;
    expect(stopped.status).toBe('failed');
    expect(stopped.error).toMatchObject({ code: 'RUNNER_STOPPED' });
    await jobsSettled();
    expect((await row(id)).runner_id).toBe(holder);
    expect(await started(id)).toHaveLength(1);
  });
});
