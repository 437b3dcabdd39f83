import { AppError, NotFoundError, ValidationError, toConnectError } from '@csda/errors';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeToolRunner, ALICE, EXEC, MiB, SECRET, T0, TOOL, tool } from './support/fake-tool-runner.ts';
import type { client } from './support/identity-harness.ts';

/** The tools registry routes (list, create, read, delete, PATCH) against a local ToolRunnerService (support/fake-tool-runner.ts). */
describe('tools REST ↔ ToolRunnerService: the registry', () => {
  const fake = fakeToolRunner();
  const { seen, failuresOf, state, last, calls } = fake;
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
      state.failures = [toConnectError(new ValidationError('Invalid tool definition', { 'config.command.0': 'program rm is not on the sandbox PATH', timeout_s: 'at most 600 (operator maximum)' }), false)];
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
      state.failures = [toConnectError(new NotFoundError('tool', TOOL), false)];
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
      state.failures = [];
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
        state.stored = tool({ version: state.stored.version + 1, network: true });
        return conflict();
      };
      state.onUpdate = [race];
      const retried = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { description: 'counts' } });
      expect(retried.status, JSON.stringify(retried.body)).toBe(200);
      expect(calls()).toEqual(['getTool', 'updateTool', 'getTool', 'updateTool']);
      expect(last().req).toMatchObject({ expectedVersion: 4, tool: { description: 'counts', network: true } });
      expect(retried.body).toMatchObject({ version: 5, description: 'counts', network: true });

      seen.length = 0;
      state.stored = tool();
      state.onUpdate = [race];
      const pinned = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { description: 'counts', expected_version: 3 } });
      expect(pinned.status).toBe(409);
      expect(calls()).toEqual(['getTool', 'updateTool']);

      // A conflict that is no race (the version stays: a duplicate name) is answered as is, after one re-read.
      seen.length = 0;
      state.stored = tool();
      failuresOf.set('updateTool', [toConnectError(new AppError('CONFLICT', 'A tool named "grep" already exists', { details: { name: 'grep' } }), false)]);
      const duplicate = await api('PATCH', `/api/v1/tools/${TOOL}`, { token: alice, body: { name: 'grep' } });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body?.error).toMatchObject({ message: 'A tool named "grep" already exists', details: { name: 'grep' } });
      expect(calls()).toEqual(['getTool', 'updateTool', 'getTool']);

      seen.length = 0;
      state.onUpdate = [race, race, race, race];
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

});
