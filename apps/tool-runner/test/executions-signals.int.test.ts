import { assertConnected, openDatabase, type MikroORM } from '@csda/service-kit';
import { query, waitFor } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutionRepository } from '../src/executions/execution.repository.ts';
import { startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

// Finished and cancelled executions reach the other replicas through
// PostgreSQL LISTEN/NOTIFY. Every replica here re-reads only every 30 s and
// renews leases every 20 s, so anything faster than that came from a signal.
const SLOW = { TOOLS_SIGNAL_FALLBACK_MS: '30000', TOOLS_LEASE_S: '60', TOOLS_WAIT_MAX_S: '25' };
let h: Harness;
let a: ToolRunner;
let orm: MikroORM;
let runnerOfA = '';
const alice = user('alice');

beforeAll(async () => {
  h = await startHarness('tools-signals');
  a = await h.start({ ...SLOW, TOOLS_MAX_CONCURRENCY: '1' });
  // The test's own replica "C": the repository's claim and finish, as any replica runs them.
  orm = await openDatabase({ url: h.db.url, schema: 'tools', entities: [], migrations: [], logger: pino({ level: 'silent' }) });
  await assertConnected(orm);
});
afterAll(async () => {
  await orm?.close();
  await h?.close();
});

async function pythonTool(on: ToolRunner, name: string, code: string) {
  return (await on.client.createTool({ tool: toolInput({ name, toolType: 'python_script', config: { code }, timeoutS: 120 }) }, await h.as(alice))).tool!;
}
const execute = async (on: ToolRunner, toolId: string) => (await on.client.executeTool({ id: toolId, input: value({}), wait: true }, await h.as(alice))).execution!;
const rows = (toolId: string) =>
  query<{ id: string; status: string; runner_id: string | null; completed_at: Date | null }>(h.db.url, 'select id, status, runner_id, completed_at from tools.executions where tool_id = $1 order by created_at', [toolId]);
const readiness = async (on: ToolRunner) => ((await (await fetch(`http://127.0.0.1:${on.httpPort}/readyz`)).json()) as { checks: Record<string, { detail?: string }> }).checks['execution signals']?.detail;
const listening = (on: ToolRunner) => waitFor(async () => (await readiness(on)) === 'listening', { what: 'execution signals listening' });

/** Starts a wait:true call of a 60 s sleeper on `on` and resolves once it runs there. */
async function sleeperRunning(on: ToolRunner, name: string) {
  const tool = await pythonTool(on, name, 'import time\ntime.sleep(60)');
  const call = execute(on, tool.id).catch((err: unknown) => err);
  let id = '';
  let runner = '';
  await waitFor(
    async () => {
      const [r] = await rows(tool.id);
      id = r?.id ?? '';
      runner = r?.runner_id ?? '';
      return r?.status === 'running';
    },
    { what: `${name} running` },
  );
  return { id, runner, call };
}

/** C claims and completes `id`, as another replica would; resolves with the completion time it stored. */
async function finishElsewhere(id: string): Promise<number> {
  const repo = createExecutionRepository(orm.em.fork() as EntityManager);
  expect(await repo.claim(id, 'replica-c', 60_000)).toBeDefined();
  const finished = await repo.finish(id, 'replica-c', { status: 'completed', output: { by: 'c' }, stderr: '', error: null, truncated: false, exitCode: 0, warnings: [] });
  return finished!.completedAt!.getTime();
}

describe('signals between replicas', () => {
  it('a waiting ExecuteTool on A answers as soon as another replica finishes its execution', async () => {
    await listening(a);
    // A's only slot is busy, so the new execution waits in the queue; C takes it first.
    const blocker = await sleeperRunning(a, 'blocker-a');
    runnerOfA = blocker.runner;
    const tool = await pythonTool(a, 'elsewhere', 'print(1)');
    const call = execute(a, tool.id);
    await waitFor(async () => (await rows(tool.id))[0]?.status === 'queued', { what: 'queued' });
    const id = (await rows(tool.id))[0]!.id;
    const completedAt = await finishElsewhere(id);
    const answer = await call;
    const heard = Date.now();
    expect(answer).toMatchObject({ id, status: 'completed' });
    expect(heard - completedAt).toBeLessThan(5_000);
    // A never ran it: its job, once A has a slot again, is dropped.
    await a.client.cancelExecution({ id: blocker.id }, await h.as(alice));
    await blocker.call;
    await waitFor(async () => (await h.audits(`execution:${blocker.id}`)).some((x) => x.action === 'tool_execution_finished'), { what: 'blocker finished' });
    expect((await rows(tool.id))[0]).toMatchObject({ status: 'completed', runner_id: 'replica-c' });
    expect((await h.audits(`execution:${id}`)).filter((x) => x.action === 'tool_execution_started')).toHaveLength(0);
  });

  it('a cancel through A stops the run on B at once, and both waiting calls hear it', async () => {
    const b = await h.start(SLOW);
    await listening(a);
    await listening(b);
    const run = await sleeperRunning(b, 'on-b');
    expect(run.runner).not.toBe(runnerOfA);
    const t0 = Date.now();
    const cancelled = (await a.client.cancelExecution({ id: run.id }, await h.as(alice))).execution!;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(await run.call).toMatchObject({ id: run.id, status: 'cancelled' });
    await b.stop();
  });

  it('ignores a forged cancel signal: only a recorded cancellation stops a run', async () => {
    const tool = await pythonTool(a, 'nap', 'import time\ntime.sleep(1.5)\nprint("done")');
    const call = execute(a, tool.id);
    await waitFor(async () => (await rows(tool.id))[0]?.status === 'running', { what: 'running' });
    const id = (await rows(tool.id))[0]!.id;
    await query(h.db.url, `select pg_notify('tools_execution_cancel', $1)`, [id]);
    expect(await call).toMatchObject({ id, status: 'completed' });
  });

  it('listens again after its connection is killed, and signals work after that', async () => {
    await listening(a);
    const killed = await query<{ ok: boolean }>(h.db.url, `select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = current_database() and application_name = 'tool-runner-notifications'`);
    expect(killed.map((k) => k.ok)).toContain(true);
    await waitFor(async () => h.logs().includes('execution notifications back'), { what: 'signals reconnected' });
    await listening(a);
    const blocker = await sleeperRunning(a, 'blocker-again');
    const tool = await pythonTool(a, 'elsewhere-again', 'print(1)');
    const call = execute(a, tool.id);
    await waitFor(async () => (await rows(tool.id))[0]?.status === 'queued', { what: 'queued' });
    const completedAt = await finishElsewhere((await rows(tool.id))[0]!.id);
    expect((await call).status).toBe('completed');
    expect(Date.now() - completedAt).toBeLessThan(5_000);
    await a.client.cancelExecution({ id: blocker.id }, await h.as(alice));
    await blocker.call;
  });
});
