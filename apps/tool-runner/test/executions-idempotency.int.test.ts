import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { actingFor, createInternalTokenSigner, parseSigningKey, principalHeaders, servicePrincipal } from '@csda/auth';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { query, waitFor } from '@csda/testing';
import { describeError, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

let h: Harness;
let tr: ToolRunner;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('tools-idem');
  tr = await h.start({ TOOLS_USER_MAX_RUNNING: '2', TOOLS_MAX_CONCURRENCY: '4', TOOLS_WAIT_MAX_S: '20' });
});
afterAll(() => h?.close());

const pythonTool = async (name: string, code: string, owner = alice) =>
  (await tr.client.createTool({ tool: toolInput({ name, toolType: 'python_script', config: { code }, isPublic: true }) }, await h.as(owner))).tool!;
const count = async (toolId: string) => (await query<{ n: number }>(h.db.url, 'select count(*)::int as n from tools.executions where tool_id = $1', [toolId]))[0]!.n;
/** The scheduler acting for `who`, scoped to one tool. */
async function asScheduler(toolId: string, who = alice) {
  const signer = createInternalTokenSigner({ key: parseSigningKey('scheduler', h.keys.signingKeys.scheduler!) });
  const p = actingFor(servicePrincipal('scheduler', []), { id: who.id, name: who.name, roles: [...who.roles] }, [['tools:execute', toolId], ['tools:read', toolId]]);
  return { headers: principalHeaders(await signer.sign(p, 'tool-runner')) };
}

describe('ExecuteTool idempotency_key', () => {
  it('a repeat with the same key returns the first execution: one row, one run, one slot of the user limit', async () => {
    const tool = await pythonTool('idem-sleep', 'import time\ntime.sleep(1.5)\nprint(1)');
    const call = async () => (await tr.client.executeTool({ id: tool.id, input: value({ a: 1, b: [2] }), wait: false, idempotencyKey: 'k:1' }, await h.as(alice))).execution!;
    const [a, b] = await Promise.all([call(), call()]);
    const c = await call();
    expect(new Set([a.id, b.id, c.id]).size).toBe(1);
    expect(await count(tool.id)).toBe(1);
    // The limit is 2: the key used one slot, so one more execution fits and a third is refused.
    await tr.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice));
    const limited = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: false }, await h.as(alice)));
    expect(limited.code).toBe('RATE_LIMITED');
    // A repeat with wait answers with the finished execution, still the same one.
    const waited = (await tr.client.executeTool({ id: tool.id, input: value({ b: [2], a: 1 }), wait: true, idempotencyKey: 'k:1' }, await h.as(alice))).execution!;
    expect(waited).toMatchObject({ id: a.id, status: 'completed' });
    expect(await count(tool.id)).toBe(2);
    expect((await h.audits(`execution:${a.id}`)).filter((x) => x.action === 'tool_execution_queued')).toHaveLength(1);
  });

  it('keys are per user; another tool or input under a used key is a conflict', async () => {
    const tool = await pythonTool('idem-quick', 'print(2)');
    const other = await pythonTool('idem-other', 'print(3)');
    const mine = (await tr.client.executeTool({ id: tool.id, input: value({ n: 1 }), wait: true, idempotencyKey: 'shared' }, await h.as(alice))).execution!;
    const bobs = (await tr.client.executeTool({ id: tool.id, input: value({ n: 1 }), wait: true, idempotencyKey: 'shared' }, await h.as(bob))).execution!;
    expect(bobs.id).not.toBe(mine.id);
    for (const [id, input] of [[other.id, { n: 1 }], [tool.id, { n: 2 }]] as const) {
      const err = await describeError(tr.client.executeTool({ id, input: value(input), wait: false, idempotencyKey: 'shared' }, await h.as(alice)));
      expect(err.code).toBe('CONFLICT');
      expect(Object.keys(err.details)).toEqual(['idempotency_key']);
    }
  });

  it('refuses a malformed key naming the field, before anything is recorded', async () => {
    const tool = await pythonTool('idem-bad', 'print(4)');
    for (const key of ['has space', 'x'.repeat(201), 'ünïcode', 'a/b', 'nul\u0000']) {
      const err = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: false, idempotencyKey: key }, await h.as(alice)));
      expect(err.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(err.details)).toEqual(['idempotency_key']);
    }
    expect(await count(tool.id)).toBe(0);
  });
});

describe('JobResult of executions a schedule started', () => {
  const results = async (executionId: string) =>
    (await query<{ subject: string; payload: Buffer; sent_at: Date | null }>(h.db.url, `select subject, payload, sent_at from tools.outbox where event_type = 'csda.events.v1.JobResult' and aggregate = $1 order by id`, [`execution:${executionId}`])).map(
      (r) => ({ subject: r.subject, sent: r.sent_at !== null, ...fromBinary(JobResultSchema, r.payload) }),
    );

  it('only the scheduler acting for a user may tie an execution to a schedule', async () => {
    const tool = await pythonTool('idem-refs', 'print(5)');
    const err = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: false, scheduleId: 's-1' }, await h.as(alice)));
    expect(err.code).toBe('AUTHORIZATION_ERROR');
    const bad = await describeError(tr.client.executeTool({ id: tool.id, input: value({}), wait: false, scheduleId: 'a b', scheduleRunId: 'x'.repeat(101) }, await asScheduler(tool.id)));
    expect(Object.keys(bad.details).sort()).toEqual(['schedule_id', 'schedule_run_id']);
    expect(await count(tool.id)).toBe(0);
  });

  it('running then succeeded for a scheduled run, published; failed with the error; none for a plain one', async () => {
    const ok = await pythonTool('idem-ok', 'print(6)');
    const scheduleId = '0b7a6f2e-6d51-4d3e-9a43-6b1f0f7c2a10';
    const runId = '5c1e2a8b-2f0d-4b1e-8c55-0e8f1b2d3c4a';
    const e = (await tr.client.executeTool({ id: ok.id, input: value({}), wait: true, idempotencyKey: `schedule:${scheduleId}:1`, scheduleId, scheduleRunId: runId }, await asScheduler(ok.id))).execution!;
    expect(e.status).toBe('completed');
    await waitFor(async () => (await results(e.id)).every((r) => r.sent) && (await results(e.id)).length === 2, { what: 'JobResults relayed' });
    const [running, succeeded] = await results(e.id);
    expect(running).toMatchObject({ subject: `${h.namespace}.csda.events.tool-runner.job.running`, status: 'running', jobId: e.id, jobType: 'run_tool', ownerId: alice.id, resourceId: ok.id, scheduleId, scheduleRunId: runId, attempt: 1 });
    expect(succeeded).toMatchObject({ status: 'succeeded', eventId: `${e.id}:1:succeeded`, error: '' });
    expect(Number(succeeded!.finishedAtMs)).toBeGreaterThan(0);

    const failing = await pythonTool('idem-fail', 'import sys\nsys.stderr.write("boom")\nsys.exit(3)');
    const f = (await tr.client.executeTool({ id: failing.id, input: value({}), wait: true, scheduleId, scheduleRunId: runId }, await asScheduler(failing.id))).execution!;
    expect(f.status).toBe('failed');
    await waitFor(async () => (await results(f.id)).length === 2, { what: 'failed JobResult' });
    const last = (await results(f.id)).at(-1)!;
    expect(last).toMatchObject({ status: 'failed', subject: `${h.namespace}.csda.events.tool-runner.job.failed` });
    expect(last.error).toContain(f.error!.message);

    const plain = (await tr.client.executeTool({ id: ok.id, input: value({}), wait: true }, await h.as(alice))).execution!;
    const scheduledPlain = (await tr.client.executeTool({ id: ok.id, input: value({}), wait: true }, await asScheduler(ok.id))).execution!;
    expect([plain.status, scheduledPlain.status]).toEqual(['completed', 'completed']);
    expect(await results(plain.id)).toEqual([]);
    expect(await results(scheduledPlain.id)).toEqual([]);
  });

  it('a scheduled execution the sweeper fails (its job lost: QUEUE_EXPIRED) reports failed with the reason', async () => {
    const sweeping = await h.start({ TOOLS_QUEUE_MAX_S: '10' });
    const tool = await pythonTool('idem-lost', 'print(8)');
    const lostId = '00000000-0000-4000-8000-0000000000ee';
    await query(
      h.db.url,
      `insert into tools.executions (id, tool_id, tool_version, owner_id, status, input, created_at, schedule_id, schedule_run_id) values ($1, $2, 1, $3, 'queued', '{}', now() - interval '11 seconds', 's-lost', 'r-lost')`,
      [lostId, tool.id, alice.id],
    );
    await waitFor(async () => (await results(lostId)).length === 1, { what: 'expired JobResult', timeoutMs: 15_000 });
    expect((await results(lostId))[0]).toMatchObject({ status: 'failed', jobId: lostId, scheduleId: 's-lost', scheduleRunId: 'r-lost', error: expect.stringMatching(/not started within 10 s.*\(QUEUE_EXPIRED\)/) });
    await sweeping.stop();
  });

  it('a queued scheduled execution cancelled before it starts reports failed', async () => {
    const queued = await pythonTool('idem-cancel', 'print(7)');
    // Every one of the replica's 4 slots held (2 per user, the per-user limit), so the scheduled execution stays queued.
    const carol = user('carol');
    const hold = await pythonTool('idem-hold', 'import time\ntime.sleep(4)', bob);
    for (const who of [bob, bob, carol, carol]) await tr.client.executeTool({ id: hold.id, input: value({}), wait: false }, await h.as(who));
    await waitFor(async () => (await query<{ n: number }>(h.db.url, `select count(*)::int as n from tools.executions where tool_id = $1 and status = 'running'`, [hold.id]))[0]!.n === 4, {
      what: 'every slot taken',
    });
    const e = (await tr.client.executeTool({ id: queued.id, input: value({}), wait: false, scheduleId: 's-cancel' }, await asScheduler(queued.id))).execution!;
    const cancelled = (await tr.client.cancelExecution({ id: e.id }, await asScheduler(queued.id))).execution!;
    expect(cancelled).toMatchObject({ status: 'cancelled', startedAtMs: 0n });
    await waitFor(async () => (await results(e.id)).length === 1, { what: 'cancelled JobResult' });
    expect((await results(e.id))[0]).toMatchObject({ status: 'failed', jobId: e.id, scheduleId: 's-cancel', error: expect.stringContaining('cancelled before it started') });
  });
});
