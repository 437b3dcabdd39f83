import { create, toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema, type Value } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { AppError, NotFoundError, ValidationError, toConnectError } from '@csda/errors';
import { ExecutionSchema, ToolRunnerService, ToolSchema, type Tool, type ToolInput } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { valueFromJson } from '../src/tools/tools.schemas.ts';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const TOOL = '7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const EXEC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
const SECRET = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const WAIT_MAX_S = 7;
const MiB = 1024 * 1024;

interface Seen {
  method: string;
  req: unknown;
  principal: Principal;
  timeoutMs: number | undefined;
}

type ToolInit = Omit<MessageInitShape<typeof ToolSchema>, '$typeName'>;
type ExecutionInit = Omit<MessageInitShape<typeof ExecutionSchema>, '$typeName'>;

const json = (v: Value | undefined) => (v ? toJson(ValueSchema, v) : undefined);

/**
 * The tools routes against a local ToolRunnerService speaking the real
 * protocol (Connect over h2c, internal tokens verified with the gateway's
 * key), standing in for apps/tool-runner.
 */
describe('tools REST ↔ ToolRunnerService', () => {
  const seen: Seen[] = [];
  /** Thrown by the next calls (a queue: one per call, the last one sticks). */
  let failures: Error[] = [];
  /** Thrown by the next calls of one method, one each, before `failures`. */
  const failuresOf = new Map<string, Error[]>();
  /** Run by the next updateTool calls, one each: may change the stored tool and return an error to throw. */
  let onUpdate: (() => Error | undefined)[] = [];
  let stored: Tool;
  let executionReply: ExecutionInit = {};
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;

  const record = (method: string, req: unknown, ctx: HandlerContext) => {
    seen.push({ method, req, principal: principalFrom(ctx), timeoutMs: ctx.timeoutMs() });
    const own = failuresOf.get(method)?.shift();
    if (own) throw own;
    const failure = failures.length > 1 ? failures.shift() : failures[0];
    if (failure) throw failure;
  };
  const last = () => seen.at(-1)!;
  const calls = () => seen.map((s) => s.method);
  const tool = (over: ToolInit = {}) =>
    create(ToolSchema, {
      id: TOOL,
      ownerId: ALICE,
      name: 'count-matches',
      description: 'grep -c',
      toolType: 'shell_command',
      config: { command: ['grep', '-c', '{{pattern}}', '{{file}}'] },
      inputSchema: { type: 'object', required: ['pattern'], properties: { pattern: { type: 'string' } } },
      timeoutS: 300,
      maxOutputBytes: BigInt(MiB),
      network: false,
      secrets: [{ secretId: SECRET, as: 'env:API_KEY' }],
      isPublic: false,
      sharedWithRoles: ['ANALYST'],
      version: 3,
      createdAtMs: BigInt(T0),
      updatedAtMs: BigInt(T0 + 1_000),
      ...over,
    });
  const fromInput = (input: ToolInput | undefined, version: number) =>
    tool({
      name: input?.name,
      description: input?.description,
      toolType: input?.toolType,
      config: input?.config,
      inputSchema: input?.inputSchema,
      timeoutS: input?.timeoutS || 300,
      maxOutputBytes: input?.maxOutputBytes || BigInt(MiB),
      network: input?.network,
      secrets: input?.secrets,
      isPublic: input?.isPublic,
      sharedWithRoles: input?.sharedWithRoles,
      version,
    });
  const execution = (over: ExecutionInit = {}) =>
    create(ExecutionSchema, { id: EXEC, toolId: TOOL, toolVersion: 3, ownerId: ALICE, status: 'queued', input: valueFromJson({ pattern: 'x' }), createdAtMs: BigInt(T0), ...over });

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(ToolRunnerService, 'tool-runner', publicKeyOf(), {
      createTool: (req, ctx) => (record('createTool', req, ctx), { tool: fromInput(req.tool, 1) }),
      listTools: (req, ctx) => (record('listTools', req, ctx), { items: [tool(), tool({ id: SECRET, isPublic: true, inputSchema: undefined, config: undefined })], total: 9n }),
      getTool: (req, ctx) => (record('getTool', req, ctx), { tool: stored }),
      updateTool: (req, ctx) => {
        record('updateTool', req, ctx);
        const raced = onUpdate.shift()?.();
        if (raced) throw raced;
        stored = fromInput(req.tool, stored.version + 1);
        return { tool: stored };
      },
      deleteTool: (req, ctx) => (record('deleteTool', req, ctx), {}),
      executeTool: (req, ctx) => (record('executeTool', req, ctx), { execution: execution({ input: req.input, ...executionReply }) }),
      getExecution: (req, ctx) => (record('getExecution', req, ctx), { execution: execution(executionReply) }),
      cancelExecution: (req, ctx) => (
        record('cancelExecution', req, ctx),
        { execution: execution({ status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled by alice' }, startedAtMs: BigInt(T0 + 10), completedAtMs: BigInt(T0 + 510), durationMs: 500n }) }
      ),
      listExecutions: (req, ctx) => (
        record('listExecutions', req, ctx),
        { items: [execution({ status: 'completed', output: valueFromJson({ count: 2 }), exitCode: 0, startedAtMs: BigInt(T0 + 5), completedAtMs: BigInt(T0 + 45), durationMs: 40n }), execution()], total: 12n }
      ),
      getToolStats: (req, ctx) => (
        record('getToolStats', req, ctx),
        req.id === SECRET
          ? {}
          : { executions: 12n, completed: 8n, failed: 2n, timedOut: 1n, cancelled: 1n, p50DurationMs: 41n, p95DurationMs: 900n, lastExecutedAtMs: BigInt(T0 + 60_000) }
      ),
    });
    ({ app } = await buildOfflineApp({ signer, tools: createServiceClient(ToolRunnerService, backend.url), bodyLimitBytes: 2 * MiB, toolsWaitMaxS: WAIT_MAX_S }));
    api = client(app);
    alice = await offlineUserToken({ id: ALICE, username: 'alice' });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  beforeEach(() => {
    seen.length = 0;
    failures = [];
    failuresOf.clear();
    onUpdate = [];
    stored = tool();
    executionReply = {};
  });

  describe('tools', () => {
    const body = {
      name: 'count-matches',
      tool_type: 'shell_command',
      config: { command: ['grep', '-c', '{{pattern}}', '{{file}}'] },
      input_schema: { type: 'object', required: ['pattern'], properties: { pattern: { type: 'string' } } },
      secrets: [{ secret_id: SECRET, as: 'env:API_KEY' }],
      shared_with_roles: ['ANALYST'],
    };

    it('creates one as the caller, unset limits left to the tool-runner (0), and answers in the DESIGN.md shape', async () => {
      const res = await api('POST', '/api/v1/tools', { token: alice, body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const { req, principal } = last();
      expect(principal).toMatchObject({ kind: 'user', id: ALICE, name: 'alice', roles: ['USER'] });
      expect(req).toMatchObject({
        tool: {
          name: 'count-matches',
          description: '',
          toolType: 'shell_command',
          config: body.config,
          inputSchema: body.input_schema,
          timeoutS: 0,
          maxOutputBytes: 0n,
          network: false,
          secrets: [{ secretId: SECRET, as: 'env:API_KEY' }],
          isPublic: false,
          sharedWithRoles: ['ANALYST'],
        },
      });
      expect(res.body).toEqual({
        id: TOOL,
        name: 'count-matches',
        description: '',
        tool_type: 'shell_command',
        config: body.config,
        input_schema: body.input_schema,
        timeout_s: 300,
        max_output_bytes: MiB,
        network: false,
        secrets: [{ secret_id: SECRET, as: 'env:API_KEY' }],
        is_public: false,
        shared_with_roles: ['ANALYST'],
        version: 1,
        owner_id: ALICE,
        created_at: new Date(T0).toISOString(),
        updated_at: new Date(T0 + 1_000).toISOString(),
      });
    });

    it('refuses malformed definitions at the edge, naming each field, without calling the tool-runner', async () => {
      const cases: [unknown, string][] = [
        [{ ...body, tool_type: 'bash' }, 'tool_type'],
        [{ ...body, tool_type: undefined }, 'tool_type'],
        [{ ...body, name: '  ' }, 'name'],
        [{ ...body, name: 'n'.repeat(201) }, 'name'],
        [{ ...body, config: ['grep'] }, 'config'],
        [{ ...body, config: 'print(1)' }, 'config'],
        [{ ...body, config: { code: 'x'.repeat(256 * 1024) } }, 'config'],
        [{ ...body, input_schema: { description: 'x'.repeat(256 * 1024) } }, 'input_schema'],
        [{ ...body, timeout_s: 0 }, 'timeout_s'],
        [{ ...body, timeout_s: 1.5 }, 'timeout_s'],
        [{ ...body, timeout_s: '300' }, 'timeout_s'],
        [{ ...body, max_output_bytes: 2 ** 31 }, 'max_output_bytes'],
        [{ ...body, network: 'yes' }, 'network'],
        [{ ...body, secrets: [{ secret_id: 'db-password', as: 'env:X' }] }, 'secrets.0.secret_id'],
        [{ ...body, secrets: [{ secret_id: SECRET, as: 'env:X; rm -rf /' }] }, 'secrets.0.as'],
        [{ ...body, secrets: [{ secret_id: SECRET, as: 'file:/etc/passwd' }] }, 'secrets.0.as'],
        [{ ...body, secrets: [{ secret_id: SECRET, as: 'header:X\r\nInjected: 1' }] }, 'secrets.0.as'],
        [{ ...body, secrets: [{ secret_id: SECRET, as: 'env:A' }, { secret_id: SECRET, as: 'env:A' }] }, 'secrets'],
        [{ ...body, secrets: [{ secret_id: SECRET, as: 'env:A', value: 'hunter2' }] }, 'secrets.0'],
        [{ ...body, shared_with_roles: ['admin; drop'] }, 'shared_with_roles.0'],
        [{ ...body, owner_id: ALICE }, 'body'],
        [{ ...body, version: 7 }, 'body'],
      ];
      for (const [bad, field] of cases) {
        const res = await api('POST', '/api/v1/tools', { token: alice, body: bad as object });
        expect(res.status, JSON.stringify(bad).slice(0, 200)).toBe(422);
        expect(res.body?.error.code).toBe('VALIDATION_ERROR');
        expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(bad).slice(0, 200)).toContain(field);
      }
      // Prototype pollution and NUL characters never get past the JSON parser and the edge hook.
      const proto = await app.inject({ method: 'POST', url: '/api/v1/tools', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, payload: '{"name":"n","tool_type":"python_script","config":{"__proto__":{"admin":true}}}' });
      expect(proto.statusCode).toBe(422);
      expect((await api('POST', '/api/v1/tools', { token: alice, body: { ...body, config: { code: 'print(1)\u0000' } } })).status).toBe(422);
      expect(seen).toEqual([]);
    });

    it("passes the tool-runner's per-field validation through as 422 with its details", async () => {
      failures = [toConnectError(new ValidationError('Invalid tool definition', { 'config.command.0': 'program rm is not on the sandbox PATH', timeout_s: 'at most 600 (operator maximum)' }), false)];
      const res = await api('POST', '/api/v1/tools', { token: alice, body: { ...body, timeout_s: 3_600 } });
      expect(res.status).toBe(422);
      expect(res.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'Invalid tool definition', details: { 'config.command.0': 'program rm is not on the sandbox PATH', timeout_s: 'at most 600 (operator maximum)' } });
      expect(last().req).toMatchObject({ tool: { timeoutS: 3_600 } });
    });

    it('lists with type and scope filters and pagination as {items,total,limit,offset}', async () => {
      const res = await api('GET', '/api/v1/tools?tool_type=python_script&scope=mine&limit=2&offset=4', { token: alice });
      expect(res.status).toBe(200);
      expect(last().req).toMatchObject({ limit: 2, offset: 4, toolType: 'python_script', scope: 'mine' });
      expect(res.body).toMatchObject({ total: 9, limit: 2, offset: 4 });
      expect(res.body?.items).toHaveLength(2);
      expect(res.body?.items[1]).toMatchObject({ id: SECRET, is_public: true, config: {}, input_schema: {} });
      await api('GET', '/api/v1/tools', { token: alice });
      expect(last().req).toMatchObject({ limit: 50, offset: 0, toolType: '', scope: '' });
      seen.length = 0;
      for (const q of ['tool_type=bash', 'scope=all', 'limit=0', 'limit=201', 'offset=-1']) expect((await api('GET', `/api/v1/tools?${q}`, { token: alice })).status, q).toBe(422);
      expect(seen).toEqual([]);
    });

    it("maps the tool-runner's NOT_FOUND (a tool you may not see) and refuses ids that are not UUIDs", async () => {
      failures = [toConnectError(new NotFoundError('tool', TOOL), false)];
      for (const [method, url] of [
        ['GET', `/api/v1/tools/${TOOL}`],
        ['DELETE', `/api/v1/tools/${TOOL}`],
        ['GET', `/api/v1/tools/${TOOL}/stats`],
        ['GET', `/api/v1/tools/${TOOL}/executions`],
        ['GET', `/api/v1/tools/executions/${EXEC}`],
        ['POST', `/api/v1/tools/executions/${EXEC}/cancel`],
      ] as const) {
        const res = await api(method, url, { token: alice });
        expect(res.status, `${method} ${url}`).toBe(404);
        expect(res.body?.error).toMatchObject({ code: 'NOT_FOUND', details: { resource: 'tool', identifier: TOOL } });
      }
      const execute = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } });
      expect(execute.status).toBe(404);
      const patch = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { name: 'x' } });
      expect(patch.status).toBe(404);
      expect(calls().filter((m) => m === 'updateTool')).toEqual([]);
      failures = [];
      seen.length = 0;
      for (const id of ['42', '..%2F..%2Fvault', `${TOOL}x`, 'executions']) expect((await api('GET', `/api/v1/tools/${id}`, { token: alice })).status, id).toBe(422);
      expect((await api('GET', '/api/v1/tools/executions/not-an-id', { token: alice })).status).toBe(422);
      expect(seen).toEqual([]);
    });

    it('gets one and deletes one', async () => {
      const got = await api('GET', `/api/v1/tools/${TOOL}`, { token: alice });
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: TOOL, version: 3, secrets: [{ secret_id: SECRET, as: 'env:API_KEY' }], shared_with_roles: ['ANALYST'] });
      expect(last()).toMatchObject({ method: 'getTool', req: { id: TOOL } });
      expect((await api('DELETE', `/api/v1/tools/${TOOL}`, { token: alice })).status).toBe(204);
      expect(last()).toMatchObject({ method: 'deleteTool', req: { id: TOOL } });
    });
  });

  describe('PATCH', () => {
    it('merges the given fields onto the current definition (config replaced whole) and updates at its version', async () => {
      const res = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { config: { command: ['wc', '-l', '{{file}}'] }, timeout_s: 60 } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(calls()).toEqual(['getTool', 'updateTool']);
      expect(last().req).toMatchObject({
        id: TOOL,
        expectedVersion: 3,
        tool: {
          name: 'count-matches',
          description: 'grep -c',
          toolType: 'shell_command',
          config: { command: ['wc', '-l', '{{file}}'] },
          inputSchema: { type: 'object', required: ['pattern'], properties: { pattern: { type: 'string' } } },
          timeoutS: 60,
          maxOutputBytes: BigInt(MiB),
          network: false,
          secrets: [{ secretId: SECRET, as: 'env:API_KEY' }],
          isPublic: false,
          sharedWithRoles: ['ANALYST'],
        },
      });
      expect(res.body).toMatchObject({ version: 4, timeout_s: 60, config: { command: ['wc', '-l', '{{file}}'] }, name: 'count-matches' });
      expect(seen.every((s) => s.principal.id === ALICE)).toBe(true);
    });

    it('clears lists when given empty ones, and a body naming nothing returns the tool unchanged (no new version)', async () => {
      await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { secrets: [], shared_with_roles: [], is_public: true } });
      expect(last().req).toMatchObject({ tool: { secrets: [], sharedWithRoles: [], isPublic: true } });
      seen.length = 0;
      const unchanged = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: {} });
      expect(unchanged.status).toBe(200);
      expect(unchanged.body?.version).toBe(4);
      expect(calls()).toEqual(['getTool']);
    });

    it('with expected_version: 409 naming the current version when it moved, never writing', async () => {
      const res = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { name: 'renamed', expected_version: 2 } });
      expect(res.status).toBe(409);
      expect(res.body?.error).toMatchObject({ code: 'CONFLICT', details: { resource: 'tool', identifier: TOOL, current_version: '3' } });
      expect(calls()).toEqual(['getTool']);
      const ok = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { name: 'renamed', expected_version: 3 } });
      expect(ok.status).toBe(200);
      expect(last().req).toMatchObject({ expectedVersion: 3, tool: { name: 'renamed' } });
    });

    it('a change landing between read and write: re-read and re-merged onto it without expected_version, 409 with it', async () => {
      const conflict = () => toConnectError(new AppError('CONFLICT', `Tool ${TOOL} changed meanwhile`), false);
      // Another writer gets in first: the tool moves on (network turned on) and our update at the old version conflicts.
      const race = () => {
        stored = tool({ version: stored.version + 1, network: true });
        return conflict();
      };
      onUpdate = [race];
      const retried = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { description: 'counts' } });
      expect(retried.status, JSON.stringify(retried.body)).toBe(200);
      expect(calls()).toEqual(['getTool', 'updateTool', 'getTool', 'updateTool']);
      expect(last().req).toMatchObject({ expectedVersion: 4, tool: { description: 'counts', network: true } });
      expect(retried.body).toMatchObject({ version: 5, description: 'counts', network: true });

      seen.length = 0;
      stored = tool();
      onUpdate = [race];
      const pinned = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { description: 'counts', expected_version: 3 } });
      expect(pinned.status).toBe(409);
      expect(calls()).toEqual(['getTool', 'updateTool']);

      // A conflict that is no race (the version stays: a duplicate name) is answered as is, after one re-read.
      seen.length = 0;
      stored = tool();
      failuresOf.set('updateTool', [toConnectError(new AppError('CONFLICT', 'A tool named "grep" already exists', { details: { name: 'grep' } }), false)]);
      const duplicate = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { name: 'grep' } });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body?.error).toMatchObject({ message: 'A tool named "grep" already exists', details: { name: 'grep' } });
      expect(calls()).toEqual(['getTool', 'updateTool', 'getTool']);

      seen.length = 0;
      onUpdate = [race, race, race, race];
      const busy = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { description: 'counts' } });
      expect(busy.status).toBe(409);
      expect(calls().filter((m) => m === 'updateTool')).toHaveLength(3);
    });

    it('refuses unknown or read-only fields and bad values', async () => {
      for (const [bad, field] of [
        [{ owner_id: ALICE }, 'body'],
        [{ version: 9 }, 'body'],
        [{ expected_version: 0 }, 'expected_version'],
        [{ tool_type: 'bash' }, 'tool_type'],
        [{ config: null }, 'config'],
        [{ secrets: [{ secret_id: SECRET }] }, 'secrets.0.as'],
      ] as const) {
        const res = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: bad });
        expect(res.status, JSON.stringify(bad)).toBe(422);
        expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(bad)).toContain(field);
      }
      expect(seen).toEqual([]);
    });
  });

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
      executionReply = {
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
        executionReply = { status, error: { code: 'TIMED_OUT', message: 'killed after 300 s' }, completedAtMs: BigInt(T0 + 300_000), durationMs: 300_000n };
        const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { wait: true } });
        expect(res.status, status).toBe(200);
        expect(res.body).toMatchObject({ status, error: { code: 'TIMED_OUT', message: 'killed after 300 s' }, exit_code: null, output: null, duration_ms: 300_000 });
      }
      for (const status of ['queued', 'running']) {
        executionReply = { status, startedAtMs: status === 'running' ? BigInt(T0 + 1) : 0n };
        const res = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { wait: true } });
        expect(res.status, status).toBe(202);
        expect(res.body).toEqual({ execution_id: EXEC, status });
      }
      // Without wait it is 202 even if the tool-runner already had the result.
      executionReply = { status: 'completed', completedAtMs: BigInt(T0 + 5) };
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
      failures = [toConnectError(new AppError('RATE_LIMITED', 'You have 4 executions running; the limit is 4', { details: { limit: '4', retry_after_s: '5' } }), false)];
      const limited = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } });
      expect(limited.status).toBe(429);
      expect(limited.body?.error).toMatchObject({ code: 'RATE_LIMITED', message: 'You have 4 executions running; the limit is 4', details: { limit: '4' } });
      expect(limited.headers['retry-after']).toBe('5');
      failures = [new ConnectError('too many', Code.ResourceExhausted)];
      expect((await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } })).status).toBe(429);

      failures = [toConnectError(new ValidationError('Input does not match the input schema', { 'input.pattern': 'is required' }), false)];
      const invalid = await api('POST', `/api/v1/tools/${TOOL}/execute`, { token: alice, body: { input: {} } });
      expect(invalid.status).toBe(422);
      expect(invalid.body?.error.details).toEqual({ 'input.pattern': 'is required' });
    });

    it('gets one: unset instants, exit code and output are null; a string output stays a string', async () => {
      executionReply = { status: 'running', startedAtMs: BigInt(T0 + 3) };
      const running = await api('GET', `/api/v1/tools/executions/${EXEC}`, { token: alice });
      expect(running.status).toBe(200);
      expect(running.body).toMatchObject({ status: 'running', started_at: new Date(T0 + 3).toISOString(), completed_at: null, duration_ms: null, exit_code: null, output: null, error: null });
      expect(last()).toMatchObject({ method: 'getExecution', req: { id: EXEC } });
      executionReply = { status: 'failed', output: valueFromJson('not json\n'), exitCode: 2, truncated: true, completedAtMs: BigInt(T0 + 9), durationMs: 9n, error: { code: 'OUTPUT_LIMIT', message: 'output cut at 1 MiB' } };
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
      failures = [new ConnectError('Permission secrets:reveal required on secret x', Code.PermissionDenied)];
      expect((await api('POST', '/api/v1/tools', { token: alice, body: { name: 'n', tool_type: 'python_script', config: { code: 'print(1)' }, secrets: [{ secret_id: SECRET, as: 'env:K' }] } })).status).toBe(403);
      failures = [new Error('relation "tools.executions" does not exist at /srv/app.ts:12')];
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
