import type { Value } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { AppError, ValidationError, toConnectError } from '@csda/errors';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { valueFromJson } from '../src/tools/tools.schemas.ts';
import { fakeToolRunner, ALICE, EXEC, MiB, SECRET, T0, TOOL, WAIT_MAX_S, json } from './support/fake-tool-runner.ts';
import { client } from './support/identity-harness.ts';
import { gatewaySigner } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

/** Executions, permissions, upstream failures and the OpenAPI document of the tools routes, against a local ToolRunnerService. */
describe('tools REST ↔ ToolRunnerService: executions and failures', () => {
  const fake = fakeToolRunner();
  const { seen, state, last } = fake;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ app, api, alice, close } = await fake.start());
  });

  afterAll(async () => {
    await close?.();
  });

  beforeEach(() => fake.reset());

  describe('executions', () => {
    it('async: 202 {execution_id, status} with a Location, the input passed as a JSON value, the default deadline', async () => {
      const input = { pattern: '; rm -rf / $(id) `id`\n--output=/etc/x', file: 'a.txt', n: 3, deep: [1, null, { ok: true }] };
      const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body).toEqual({ execution_id: EXEC, status: 'queued' });
      expect(res.headers.location).toBe(`/api/v1/tools/executions/${EXEC}`);
      const req = last().req as { id: string; wait: boolean; input: Value };
      expect(req).toMatchObject({ id: TOOL, wait: false });
      expect(json(req.input)).toEqual(input);
      expect(last().timeoutMs).toBeLessThanOrEqual(10_000);

      // No input is an empty object; any JSON value is passed as is (the input_schema decides).
      await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: {} });
      expect(json((last().req as { input: Value }).input)).toEqual({});
      for (const other of [['a', 1], 'text', 42, null, false]) {
        await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: other } });
        expect(json((last().req as { input: Value }).input), JSON.stringify(other)).toEqual(other);
      }
    });

    it('wait and finished: 200 with the whole execution; wait and still running: 202; the deadline covers the wait limit', async () => {
      state.executionReply = {
        status: 'completed',
        output: valueFromJson({ count: 2, lines: ['a', 'b'] }),
        stderr: 'warning: x\n',
        exitCode: 0,
        truncated: false,
        warnings: ['network access is off for this tool'],
        startedAtMs: BigInt(T0 + 20),
        completedAtMs: BigInt(T0 + 95),
        durationMs: 75n,
      };
      const done = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: { pattern: 'x' }, wait: true } });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      expect(done.body).toEqual({
        id: EXEC,
        tool_id: TOOL,
        tool_version: 3,
        owner_id: ALICE,
        status: 'completed',
        input: { pattern: 'x' },
        output: { count: 2, lines: ['a', 'b'] },
        stderr: 'warning: x\n',
        error: null,
        truncated: false,
        exit_code: 0,
        warnings: ['network access is off for this tool'],
        started_at: new Date(T0 + 20).toISOString(),
        completed_at: new Date(T0 + 95).toISOString(),
        duration_ms: 75,
        created_at: new Date(T0).toISOString(),
      });
      expect(last().req).toMatchObject({ wait: true });
      const deadline = last().timeoutMs ?? 0;
      expect(deadline).toBeGreaterThan(WAIT_MAX_S * 1_000);
      expect(deadline).toBeLessThanOrEqual(WAIT_MAX_S * 1_000 + 5_000);

      for (const status of ['failed', 'timed_out', 'cancelled']) {
        state.executionReply = { status, error: { code: 'TIMED_OUT', message: 'killed after 300 s' }, completedAtMs: BigInt(T0 + 300_000), durationMs: 300_000n };
        const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { wait: true } });
        expect(res.status, status).toBe(200);
        expect(res.body).toMatchObject({ status, error: { code: 'TIMED_OUT', message: 'killed after 300 s' }, exit_code: null, output: null, duration_ms: 300_000 });
      }
      for (const status of ['queued', 'running']) {
        state.executionReply = { status, startedAtMs: status === 'running' ? BigInt(T0 + 1) : 0n };
        const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { wait: true } });
        expect(res.status, status).toBe(202);
        expect(res.body).toEqual({ execution_id: EXEC, status });
      }
      // Without wait it is 202 even if the tool-runner already had the result.
      state.executionReply = { status: 'completed', completedAtMs: BigInt(T0 + 5) };
      expect((await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { wait: false } })).status).toBe(202);
    });

    it('refuses bad execute bodies: input over 1 MiB (422), a body over the limit (413), unknown fields, wait not a boolean', async () => {
      const big = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: { blob: 'x'.repeat(MiB) } } });
      expect(big.status).toBe(422);
      expect(Object.keys(big.body?.error.details ?? {})).toContain('input');
      const huge = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: { blob: 'x'.repeat(2 * MiB) } } });
      expect(huge.status).toBe(413);
      expect(huge.body?.error.code).toBe('PAYLOAD_TOO_LARGE');
      for (const [bad, field] of [
        [{ input: {}, wait: 'true' }, 'wait'],
        [{ input: {}, tool_version: 1 }, 'body'],
        [{ input: { p: 'a\u0000b' } }, 'input.p'],
      ] as const) {
        const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: bad });
        expect(res.status, JSON.stringify(bad)).toBe(422);
        expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(bad)).toContain(field);
      }
      const proto = await app.inject({ method: 'POST', url: `/api/v1/tools/${TOOL}/execute`, headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, payload: '{"input":{"constructor":{"prototype":{"admin":true}}}}' });
      expect(proto.statusCode).toBe(422);
      expect(seen).toEqual([]);
    });

    it("the per-user running limit is 429 with the tool-runner's message; its input validation is 422", async () => {
      state.failures = [toConnectError(new AppError('RATE_LIMITED', 'You have 4 executions running; the limit is 4', { details: { limit: '4', retry_after_s: '5' } }), false)];
      const limited = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } });
      expect(limited.status).toBe(429);
      expect(limited.body?.error).toMatchObject({ code: 'RATE_LIMITED', message: 'You have 4 executions running; the limit is 4', details: { limit: '4' } });
      expect(limited.headers['retry-after']).toBe('5');
      state.failures = [new ConnectError('too many', Code.ResourceExhausted)];
      expect((await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } })).status).toBe(429);

      state.failures = [toConnectError(new ValidationError('Input does not match the input schema', { 'input.pattern': 'is required' }), false)];
      const invalid = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } });
      expect(invalid.status).toBe(422);
      expect(invalid.body?.error.details).toEqual({ 'input.pattern': 'is required' });
    });

    it('gets one: unset instants, exit code and output are null; a string output stays a string', async () => {
      state.executionReply = { status: 'running', startedAtMs: BigInt(T0 + 3) };
      const running = await api('GET', `/api/v1/tools/executions/${EXEC}`, { token: alice });
      expect(running.status).toBe(200);
      expect(running.body).toMatchObject({ status: 'running', started_at: new Date(T0 + 3).toISOString(), completed_at: null, duration_ms: null, exit_code: null, output: null, error: null });
      expect(last()).toMatchObject({ method: 'getExecution', req: { id: EXEC } });
      state.executionReply = { status: 'failed', output: valueFromJson('not json\n'), exitCode: 2, truncated: true, completedAtMs: BigInt(T0 + 9), durationMs: 9n, error: { code: 'OUTPUT_LIMIT', message: 'output cut at 1 MiB' } };
      const failed = await api('GET', `/api/v1/tools/executions/${EXEC}`, { token: alice });
      expect(failed.body).toMatchObject({ output: 'not json\n', exit_code: 2, truncated: true, error: { code: 'OUTPUT_LIMIT', message: 'output cut at 1 MiB' } });
    });

    it('cancels: 200 with the cancelled execution', async () => {
      const res = await api('POST', `/api/v1/tools/executions/${EXEC}/cancel`, { token: alice });
      expect(res.status).toBe(200);
      expect(last()).toMatchObject({ method: 'cancelExecution', req: { id: EXEC } });
      expect(res.body).toMatchObject({ id: EXEC, status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled by alice' }, duration_ms: 500 });
    });

    it("lists a tool's executions with a status filter and pagination", async () => {
      const res = await api('GET', `/api/v1/tools/${TOOL}/executions?status=completed&limit=2&offset=10`, { token: alice });
      expect(res.status).toBe(200);
      expect(last().req).toMatchObject({ toolId: TOOL, status: 'completed', limit: 2, offset: 10 });
      expect(res.body).toMatchObject({ total: 12, limit: 2, offset: 10 });
      expect(res.body?.items[0]).toMatchObject({ status: 'completed', output: { count: 2 }, exit_code: 0, duration_ms: 40 });
      expect(res.body?.items[1]).toMatchObject({ status: 'queued', output: null });
      seen.length = 0;
      for (const q of ['status=done', 'status=', 'limit=500']) expect((await api('GET', `/api/v1/tools/${TOOL}/executions?${q}`, { token: alice })).status, q).toBe(422);
      expect(seen).toEqual([]);
    });

    it('stats: counts, percentiles, last execution; null percentiles and time when nothing ran', async () => {
      const res = await api('GET', `/api/v1/tools/${TOOL}/stats`, { token: alice });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ tool_id: TOOL, executions: 12, completed: 8, failed: 2, timed_out: 1, cancelled: 1, p50_duration_ms: 41, p95_duration_ms: 900, last_executed_at: new Date(T0 + 60_000).toISOString() });
      const none = await api('GET', `/api/v1/tools/${SECRET}/stats`, { token: alice });
      expect(none.body).toEqual({ tool_id: SECRET, executions: 0, completed: 0, failed: 0, timed_out: 0, cancelled: 0, p50_duration_ms: null, p95_duration_ms: null, last_executed_at: null });
    });
  });

  describe('permissions and failures', () => {
    const routes = [
      ['GET', '/api/v1/tools', 'tools:read'],
      ['POST', '/api/v1/tools', 'tools:write'],
      ['GET', `/api/v1/tools/${TOOL}`, 'tools:read'],
      ['PATCH', `/api/v1/tools/${TOOL}`, 'tools:write'],
      ['DELETE', `/api/v1/tools/${TOOL}`, 'tools:write'],
      ['POST', `/api/v1/tools/${TOOL}/execute`, 'tools:execute'],
      ['GET', `/api/v1/tools/executions/${EXEC}`, 'tools:read'],
      ['POST', `/api/v1/tools/executions/${EXEC}/cancel`, 'tools:execute'],
      ['GET', `/api/v1/tools/${TOOL}/executions`, 'tools:read'],
      ['GET', `/api/v1/tools/${TOOL}/stats`, 'tools:read'],
    ] as const;
    const bodyFor = (method: string, url: string) =>
      method === 'POST' && url === '/api/v1/tools' ? { name: 'n', tool_type: 'python_script', config: { code: 'print(1)' } } : method === 'PATCH' ? { name: 'n' } : url.endsWith('/execute') ? { input: {} } : undefined;

    it("needs a token (401) and exactly the route's permission (403); the tool-runner is never reached without them", async () => {
      const none = await offlineUserToken({ id: ALICE, username: 'alice', roles: ['READER'], permissions: ['secrets:read', 'schedules:write'] });
      for (const [method, url, permission] of routes) {
        const body = bodyFor(method, url);
        expect((await api(method, url, { body })).status, `${method} ${url}`).toBe(401);
        expect((await api(method, url, { token: none, body })).status, `${method} ${url}`).toBe(403);
        const others = ['tools:read', 'tools:write', 'tools:execute'].filter((p) => p !== permission);
        const wrong = await offlineUserToken({ id: ALICE, username: 'alice', permissions: others });
        const denied = await api(method, url, { token: wrong, body });
        expect(denied.status, `${method} ${url} with ${others.join('+')}`).toBe(403);
        expect(denied.body?.error.message).toContain(permission);
      }
      expect(seen).toEqual([]);
      // And with only that permission, the call goes through (as the caller).
      for (const [method, url, permission] of routes) {
        const only = await offlineUserToken({ id: ALICE, username: 'alice', permissions: [permission] });
        const res = await api(method, url, { token: only, body: bodyFor(method, url) });
        expect(res.status, `${method} ${url} with ${permission}`).toBeLessThan(300);
      }
      expect(new Set(seen.map((s) => s.principal.id))).toEqual(new Set([ALICE]));
    });

    it("the tool-runner's refusal is 403, its internal errors a generic 500, and it being down a 503", async () => {
      state.failures = [new ConnectError('Permission secrets:reveal required on secret x', Code.PermissionDenied)];
      expect((await api('POST', '/api/v1/tools', { token: alice, body: { name: 'n', tool_type: 'python_script', config: { code: 'print(1)' }, secrets: [{ secret_id: SECRET, as: 'env:K' }] } })).status).toBe(403);
      state.failures = [new Error('relation "tools.executions" does not exist at /srv/app.ts:12')];
      const internal = await api('GET', `/api/v1/tools/executions/${EXEC}`, { token: alice });
      expect(internal.status).toBe(500);
      expect(JSON.stringify(internal.body)).not.toMatch(/relation|srv|app\.ts/);

      const down = await buildOfflineApp({ signer: gatewaySigner().signer, tools: createServiceClient(ToolRunnerService, `http://127.0.0.1:${await freePort()}`) });
      try {
        const res = await client(down.app)('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {}, wait: true } });
        expect(res.status).toBe(503);
        expect(res.body?.error.code).toBe('EXTERNAL_SERVICE_ERROR');
      } finally {
        await down.app.close();
      }
    });
  });

  it('documents every tools route in the OpenAPI document, behind bearer auth, with the 200/202 execute answers and 429', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const expected: [string, string][] = [
      ['/api/v1/tools', 'get'],
      ['/api/v1/tools', 'post'],
      ['/api/v1/tools/{id}', 'get'],
      ['/api/v1/tools/{id}', 'patch'],
      ['/api/v1/tools/{id}', 'delete'],
      ['/api/v1/tools/{id}/execute', 'post'],
      ['/api/v1/tools/executions/{id}', 'get'],
      ['/api/v1/tools/executions/{id}/cancel', 'post'],
      ['/api/v1/tools/{id}/executions', 'get'],
      ['/api/v1/tools/{id}/stats', 'get'],
    ];
    for (const [path, method] of expected) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
      expect(doc.paths[path][method].security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      expect(doc.paths[path][method].tags).toEqual(['tools']);
    }
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/tools')).sort()).toEqual([...new Set(expected.map(([p]) => p))].sort());
    const execute = doc.paths['/api/v1/tools/{id}/execute'].post;
    expect(Object.keys(execute.responses)).toEqual(expect.arrayContaining(['200', '202', '404', '413', '422', '429']));
    expect(doc.paths['/api/v1/tools'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['tool_type', 'scope', 'limit', 'offset']));
    expect(doc.paths['/api/v1/tools/{id}/executions'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['status', 'limit', 'offset']));
    for (const schema of ['Tool', 'ToolExecution', 'ExecutionAccepted', 'ToolStats', 'ToolSecretGrant']) expect(doc.components.schemas[schema], schema).toBeDefined();
    expect(Object.keys(doc.components.schemas.Tool.properties).sort()).toEqual(
      ['id', 'name', 'description', 'tool_type', 'config', 'input_schema', 'timeout_s', 'max_output_bytes', 'network', 'secrets', 'is_public', 'shared_with_roles', 'version', 'owner_id', 'created_at', 'updated_at'].sort(),
    );
    expect(doc.tags.map((t: { name: string }) => t.name)).toContain('tools');
  });
});

