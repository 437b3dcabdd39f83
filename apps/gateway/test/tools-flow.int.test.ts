import { randomBytes } from 'node:crypto';
import { createTestDatabase, deleteNamespace, natsUrl, startStack, testNamespace, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

const FINISHED = ['completed', 'failed', 'timed_out', 'cancelled'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Tools through the REST edge on the real stack: the gateway validates and
 * signs, the tool-runner stores versions, keeps users apart (not yours = 404),
 * validates inputs, runs python in the sandbox through JOBS_TOOLS, and
 * cancels a run on whichever replica holds it.
 */
describe('tools through the gateway (real stack)', () => {
  const namespace = testNamespace();
  const userPassword = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const { api, login } = restClient(() => stack.gatewayUrl);

  const sumTool = {
    name: 'sum',
    description: 'adds a and b',
    tool_type: 'python_script',
    config: { code: 'import json, sys\nd = json.load(sys.stdin)\nprint(json.dumps({"sum": d["a"] + d["b"]}))\n' },
    input_schema: { type: 'object', required: ['a', 'b'], properties: { a: { type: 'number' }, b: { type: 'number' } }, additionalProperties: false },
    timeout_s: 30,
  };

  /** Polls an execution until `done` holds (or fails the test after `ms`). */
  const until = async (id: string, done: (status: string) => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const res = await api('GET', `/api/v1/tools/executions/${id}`, tokens.alice);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      if (done(res.body!.status) || Date.now() > deadline) return res.body!;
      await sleep(100);
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase('tools_flow');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: natsUrl(), TOOLS_WAIT_MAX_S: '20', TOOLS_USER_MAX_RUNNING: '3' } });
    tokens.admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    for (const name of ['alice', 'bob']) {
      const created = await api('POST', '/api/v1/users', tokens.admin, { username: name, email: `${name}@example.test`, password: userPassword });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids[name] = created.body!.id;
      tokens[name] = await login(name, userPassword);
    }
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('creates a tool as version 1 in the DESIGN.md shape, with the defaults filled', async () => {
    const res = await api('POST', '/api/v1/tools', tokens.alice, sumTool);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ ...sumTool, max_output_bytes: 1_048_576, network: false, secrets: [], is_public: false, shared_with_roles: [], version: 1, owner_id: ids.alice });
    ids.tool = res.body!.id;
    const got = await api('GET', `/api/v1/tools/${ids.tool}`, tokens.alice);
    expect(got.body).toEqual(res.body);
  });

  it("refuses bad definitions with the tool-runner's field names", async () => {
    for (const [patch, field] of [
      [{ config: {} }, 'config.code'],
      [{ tool_type: 'shell_command', config: { command: ['/bin/sh', '-c', 'id'] } }, 'config.command'],
      [{ tool_type: 'sql_query', config: { datasource: ids.alice, query: 'delete from t' } }, 'config.query'],
    ] as const) {
      const res = await api('POST', '/api/v1/tools', tokens.alice, { ...sumTool, name: 'bad', ...patch });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(Object.keys(res.body!.error.details).join(','), JSON.stringify(res.body)).toContain(field);
    }
    const duplicate = await api('POST', '/api/v1/tools', tokens.alice, sumTool);
    expect(duplicate.status, JSON.stringify(duplicate.body)).toBe(409);
  });

  it("keeps users apart: bob neither sees, changes, runs nor reads alice's private tool (404), until she makes it public", async () => {
    for (const [method, url, body] of [
      ['GET', `/api/v1/tools/${ids.tool}`, undefined],
      ['PATCH', `/api/v1/tools/${ids.tool}`, { name: 'mine-now' }],
      ['DELETE', `/api/v1/tools/${ids.tool}`, undefined],
      ['POST', `/api/v1/tools/${ids.tool}/execute`, { input: { a: 1, b: 2 } }],
      ['GET', `/api/v1/tools/${ids.tool}/executions`, undefined],
      ['GET', `/api/v1/tools/${ids.tool}/stats`, undefined],
    ] as const) {
      const res = await api(method, url, tokens.bob, body);
      expect(res.status, `${method} ${url}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body!.error.code).toBe('NOT_FOUND');
    }
    const bobs = await api('GET', '/api/v1/tools', tokens.bob);
    expect(bobs.body!.items.map((t: { id: string }) => t.id)).not.toContain(ids.tool);

    const shared = await api('PATCH', `/api/v1/tools/${ids.tool}`, tokens.alice, { is_public: true });
    expect(shared.status, JSON.stringify(shared.body)).toBe(200);
    expect(shared.body).toMatchObject({ is_public: true, version: 2, name: 'sum', config: sumTool.config });
    expect((await api('GET', `/api/v1/tools/${ids.tool}`, tokens.bob)).status).toBe(200);
    const publicList = await api('GET', '/api/v1/tools?scope=public', tokens.bob);
    expect(publicList.body!.items.map((t: { id: string }) => t.id)).toContain(ids.tool);
    // Public is not bob's to change.
    expect([403, 404]).toContain((await api('PATCH', `/api/v1/tools/${ids.tool}`, tokens.bob, { name: 'mine-now' })).status);
    expect((await api('PATCH', `/api/v1/tools/${ids.tool}`, tokens.alice, { is_public: false, expected_version: 1 })).status).toBe(409);
    expect((await api('PATCH', `/api/v1/tools/${ids.tool}`, tokens.alice, { is_public: false, expected_version: 2 })).body).toMatchObject({ is_public: false, version: 3 });
  });

  it('runs a python tool with wait: 200 and the finished execution, its output parsed as JSON, the version recorded', async () => {
    const res = await api('POST', `/api/v1/tools/${ids.tool}/execute`, tokens.alice, { input: { a: 2, b: 40 }, wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ tool_id: ids.tool, tool_version: 3, status: 'completed', input: { a: 2, b: 40 }, output: { sum: 42 }, exit_code: 0, error: null, truncated: false });
    expect(res.body!.duration_ms).toBeGreaterThanOrEqual(0);
    ids.run = res.body!.id;
    expect(Date.parse(res.body!.completed_at)).toBeGreaterThanOrEqual(Date.parse(res.body!.started_at));
  });

  it('a shell tool gets each parameter as one literal argument: metacharacters, newlines and flags do nothing', async () => {
    const echo = await api('POST', '/api/v1/tools', tokens.alice, {
      name: 'echo-arg',
      tool_type: 'shell_command',
      config: { command: ['printf', '[%s]', '{{p}}'] },
      input_schema: { type: 'object', required: ['p'], properties: { p: { type: 'string' } } },
    });
    expect(echo.status, JSON.stringify(echo.body)).toBe(201);
    for (const p of ['; rm -rf / $(id) `id`', 'a\nb && echo pwned', '--output=/etc/x', '|| cat /etc/shadow', "' \" *"]) {
      const res = await api('POST', `/api/v1/tools/${echo.body!.id}/execute`, tokens.alice, { input: { p }, wait: true });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body, p).toMatchObject({ status: 'completed', exit_code: 0, output: `[${p}]` });
    }
  });

  it("refuses an input that does not match the tool's input_schema before anything runs", async () => {
    const res = await api('POST', `/api/v1/tools/${ids.tool}/execute`, tokens.alice, { input: { a: 'two', b: 40, c: 1 }, wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body!.error.code).toBe('VALIDATION_ERROR');
  });

  it('async: 202 with the execution id, the run finishes on a worker; cancel kills a running one', async () => {
    const queued = await api('POST', `/api/v1/tools/${ids.tool}/execute`, tokens.alice, { input: { a: 1, b: 1 } });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    expect(['queued', 'running', ...FINISHED]).toContain(queued.body!.status);
    const done = await until(queued.body!.execution_id, (s) => FINISHED.includes(s));
    expect(done).toMatchObject({ status: 'completed', output: { sum: 2 } });

    const slow = await api('POST', '/api/v1/tools', tokens.alice, { name: 'slow', tool_type: 'python_script', config: { code: 'import time\nprint("started", flush=True)\ntime.sleep(60)\n' }, timeout_s: 120 });
    expect(slow.status, JSON.stringify(slow.body)).toBe(201);
    ids.slow = slow.body!.id;
    const started = await api('POST', `/api/v1/tools/${ids.slow}/execute`, tokens.alice, { input: {} });
    expect(started.status).toBe(202);
    const id = started.body!.execution_id;
    expect((await until(id, (s) => s !== 'queued')).status).toBe('running');
    expect((await api('POST', `/api/v1/tools/executions/${id}/cancel`, tokens.bob)).status).toBe(404);
    const t0 = Date.now();
    const cancel = await api('POST', `/api/v1/tools/executions/${id}/cancel`, tokens.alice);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const cancelled = await until(id, (s) => FINISHED.includes(s), 10_000);
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a run past its timeout is killed: timed_out with the reason in plain words, answered to wait with 200', async () => {
    const busy = await api('POST', '/api/v1/tools', tokens.alice, { name: 'busy', tool_type: 'python_script', config: { code: 'while True:\n    pass\n' }, timeout_s: 1 });
    expect(busy.status, JSON.stringify(busy.body)).toBe(201);
    const res = await api('POST', `/api/v1/tools/${busy.body!.id}/execute`, tokens.alice, { input: {}, wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'timed_out', error: { code: 'TIMED_OUT' } });
    expect(res.body!.error.message).toMatch(/1 s/);
    expect(res.body!.duration_ms).toBeLessThan(10_000);
  });

  it("the per-user running limit is 429 naming it; alice's running executions do not count against bob", async () => {
    const running: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api('POST', `/api/v1/tools/${ids.slow}/execute`, tokens.alice, { input: {} });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      running.push(res.body!.execution_id);
    }
    try {
      const limited = await api('POST', `/api/v1/tools/${ids.slow}/execute`, tokens.alice, { input: {} });
      expect(limited.status, JSON.stringify(limited.body)).toBe(429);
      expect(limited.body!.error.code).toBe('RATE_LIMITED');
      expect(limited.body!.error.message).toMatch(/3/);
      // bob (running nothing) may still run a public tool of alice's.
      expect((await api('PATCH', `/api/v1/tools/${ids.tool}`, tokens.alice, { is_public: true })).status).toBe(200);
      const bobs = await api('POST', `/api/v1/tools/${ids.tool}/execute`, tokens.bob, { input: { a: 20, b: 1 }, wait: true });
      expect(bobs.status, JSON.stringify(bobs.body)).toBe(200);
      expect(bobs.body).toMatchObject({ status: 'completed', output: { sum: 21 } });
      // bob reads his own execution.
      expect((await api('GET', `/api/v1/tools/executions/${bobs.body!.id}`, tokens.bob)).status).toBe(200);
    } finally {
      for (const id of running) expect((await api('POST', `/api/v1/tools/executions/${id}/cancel`, tokens.alice)).status).toBe(200);
    }
    for (const id of running) expect((await until(id, (s) => FINISHED.includes(s), 10_000)).status).toBe('cancelled');
  });

  it('lists executions with a status filter, and counts them in the stats', async () => {
    const all = await api('GET', `/api/v1/tools/${ids.tool}/executions`, tokens.alice);
    expect(all.status).toBe(200);
    expect(all.body!.total).toBeGreaterThanOrEqual(2);
    const completed = await api('GET', `/api/v1/tools/${ids.tool}/executions?status=completed&limit=1`, tokens.alice);
    expect(completed.body).toMatchObject({ limit: 1, offset: 0 });
    expect(completed.body!.items.every((e: { status: string }) => e.status === 'completed')).toBe(true);
    const stats = await api('GET', `/api/v1/tools/${ids.tool}/stats`, tokens.alice);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ tool_id: ids.tool, completed: 3 });
    expect(stats.body!.executions).toBeGreaterThanOrEqual(2);
    expect(stats.body!.p50_duration_ms).not.toBeNull();
    const slowStats = await api('GET', `/api/v1/tools/${ids.slow}/stats`, tokens.alice);
    expect(slowStats.body).toMatchObject({ executions: 4, cancelled: 4 });
  });

  it('deletes a tool: gone for everyone, its executions stay readable', async () => {
    expect((await api('DELETE', `/api/v1/tools/${ids.tool}`, tokens.alice)).status).toBe(204);
    expect((await api('GET', `/api/v1/tools/${ids.tool}`, tokens.alice)).status).toBe(404);
    expect((await api('POST', `/api/v1/tools/${ids.tool}/execute`, tokens.alice, { input: { a: 1, b: 2 } })).status).toBe(404);
    expect((await api('GET', `/api/v1/tools/executions/${ids.run}`, tokens.alice)).status).toBe(200);
  });
});
