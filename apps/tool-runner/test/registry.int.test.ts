import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '@csda/testing';
import { describeError, startHarness, toolInput, user, type Harness, type ToolRunner } from './support/harness.ts';

let h: Harness;
let tr: ToolRunner;
const alice = user('alice');
const bob = user('bob');
const carol = user('carol', ['USER', 'ANALYST']);

beforeAll(async () => {
  h = await startHarness('tools-registry');
  tr = await h.start({ TOOLS_SANDBOX: 'none' });
});
afterAll(() => h?.close());

const python = (name: string, extra: Parameters<typeof toolInput>[0] = {}) =>
  toolInput({ name, toolType: 'python_script', config: { code: 'import json,sys; print(json.dumps(json.load(sys.stdin)))' }, ...extra });

describe('tool registry', () => {
  it('creates, reads, lists, updates with a new version and soft-deletes', async () => {
    const { tool } = await tr.client.createTool({ tool: python('echo', { description: 'echoes' }) }, await h.as(alice));
    expect(tool).toMatchObject({ name: 'echo', ownerId: alice.id, toolType: 'python_script', version: 1, timeoutS: 300, maxOutputBytes: 1048576n, network: false });
    expect(tool!.inputSchema).toEqual({ type: 'object' });
    const got = await tr.client.getTool({ id: tool!.id }, await h.as(alice));
    expect(got.tool?.id).toBe(tool!.id);

    const updated = await tr.client.updateTool({ id: tool!.id, tool: python('echo', { description: 'v2', timeoutS: 10 }), expectedVersion: 1 }, await h.as(alice));
    expect(updated.tool).toMatchObject({ version: 2, description: 'v2', timeoutS: 10 });
    const stale = await describeError(tr.client.updateTool({ id: tool!.id, tool: python('echo'), expectedVersion: 1 }, await h.as(alice)));
    expect(stale.code).toBe('CONFLICT');
    const versions = await query<{ version: number; definition: { description: string } }>(h.db.url, 'select version, definition from tools.tool_versions where tool_id = $1 order by version', [tool!.id]);
    expect(versions.map((v) => [v.version, v.definition.description])).toEqual([
      [1, 'echoes'],
      [2, 'v2'],
    ]);

    const dup = await describeError(tr.client.createTool({ tool: python('ECHO') }, await h.as(alice)));
    expect(dup.code).toBe('CONFLICT');

    const list = await tr.client.listTools({ scope: 'mine' }, await h.as(alice));
    expect(list.items.map((t) => t.name)).toContain('echo');

    await tr.client.deleteTool({ id: tool!.id }, await h.as(alice));
    expect((await describeError(tr.client.getTool({ id: tool!.id }, await h.as(alice)))).code).toBe('NOT_FOUND');
    // The name is free again once the tool is deleted.
    await tr.client.createTool({ tool: python('echo') }, await h.as(alice));
    const actions = (await h.audits(`tool:${tool!.id}`)).map((a) => a.action);
    expect(actions).toEqual(['tool_created', 'tool_updated', 'tool_deleted']);
  });

  it('shows a tool to its owner, to everyone when public, to role holders when shared; only the owner changes it', async () => {
    const priv = (await tr.client.createTool({ tool: python('private') }, await h.as(alice))).tool!;
    const pub = (await tr.client.createTool({ tool: python('public', { isPublic: true }) }, await h.as(alice))).tool!;
    const shared = (await tr.client.createTool({ tool: python('shared', { sharedWithRoles: ['ANALYST'] }) }, await h.as(alice))).tool!;
    expect((await describeError(tr.client.getTool({ id: priv.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
    expect((await tr.client.getTool({ id: pub.id }, await h.as(bob))).tool?.name).toBe('public');
    expect((await describeError(tr.client.getTool({ id: shared.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
    expect((await tr.client.getTool({ id: shared.id }, await h.as(carol))).tool?.name).toBe('shared');
    const bobList = await tr.client.listTools({}, await h.as(bob));
    expect(bobList.items.map((t) => t.name)).toEqual(['public']);
    const carolList = await tr.client.listTools({}, await h.as(carol));
    expect(carolList.items.map((t) => t.name).sort()).toEqual(['public', 'shared']);
    // Seeing is not owning: updates and deletes by others are NOT_FOUND.
    expect((await describeError(tr.client.updateTool({ id: pub.id, tool: python('public') }, await h.as(bob)))).code).toBe('NOT_FOUND');
    expect((await describeError(tr.client.deleteTool({ id: pub.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
    expect((await describeError(tr.client.getTool({ id: 'not-a-uuid' }, await h.as(bob)))).code).toBe('NOT_FOUND');
  });

  it('needs tools:read / tools:write', async () => {
    const reader = { ...alice, id: 'user-reader', permissions: ['tools:read'] };
    const e = await describeError(tr.client.createTool({ tool: python('x') }, await h.as(reader)));
    expect(e.code).toBe('AUTHORIZATION_ERROR');
    const nobody = { ...alice, id: 'user-nobody', permissions: [] };
    expect((await describeError(tr.client.listTools({}, await h.as(nobody)))).code).toBe('AUTHORIZATION_ERROR');
  });

  it('names every bad field', async () => {
    const bad = async (t: Parameters<typeof toolInput>[0]) => (await describeError(tr.client.createTool({ tool: toolInput(t) }, await h.as(alice)))).details;
    expect(await bad({ name: '', toolType: 'nope' })).toMatchObject({ name: expect.any(String), tool_type: expect.any(String) });
    expect(await bad({ name: 'p', toolType: 'python_script', config: {} })).toHaveProperty('config.code');
    expect(await bad({ name: 's', toolType: 'shell_command', config: { command: ['/bin/sh', '-c', 'x'] } })).toHaveProperty(['config.command[0]']);
    expect(await bad({ name: 's', toolType: 'shell_command', config: { command: ['{{prog}}'] } })).toHaveProperty(['config.command[0]']);
    expect(await bad({ name: 's', toolType: 'shell_command', config: { command: ['no-such-program-xyz'] } })).toHaveProperty(['config.command[0]']);
    expect(
      await bad({ name: 's', toolType: 'shell_command', config: { command: ['echo', '{{missing}}'] }, inputSchema: { type: 'object', properties: { x: { type: 'string' } } } }),
    ).toHaveProperty(['config.command[1]']);
    const api = await bad({ name: 'a', toolType: 'api_call', config: { method: 'BREW', url: 'http://{{host}}/x' } });
    expect(api).toHaveProperty(['config.method']);
    expect(api).toHaveProperty(['config.url']);
    expect(await bad({ name: 'a', toolType: 'api_call', config: { url: 'file:///etc/passwd' } })).toHaveProperty(['config.url']);
    const sql = await bad({ name: 'q', toolType: 'sql_query', config: { datasource: 'x', query: 'delete from t', max_rows: 20_000 } });
    expect(sql).toHaveProperty(['config.datasource']);
    expect(sql['config.query']).toMatch(/DELETE/);
    expect(sql).toHaveProperty(['config.max_rows']);
    expect((await bad({ name: 'q', toolType: 'sql_query', config: { datasource: '00000000-0000-4000-8000-000000000000', query: 'select 1; select 2' } }))['config.query']).toMatch(/statement/);
    expect((await bad({ name: 'q', toolType: 'sql_query', config: { datasource: '00000000-0000-4000-8000-000000000000', query: 'select pg_advisory_lock(1)' } }))['config.query']).toMatch(/pg_advisory_lock/);
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, inputSchema: { type: 'object', properties: { x: { type: 'strin' } } } })).toHaveProperty('input_schema');
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, inputSchema: { type: 'object', bogusKeyword: 1 } })).toHaveProperty('input_schema');
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, timeoutS: 901, maxOutputBytes: 1n << 40n })).toMatchObject({ timeout_s: expect.any(String), max_output_bytes: expect.any(String) });
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, secrets: [{ secretId: 'x', as: 'env:PATH' }] })).toHaveProperty(['secrets[0].secret_id']);
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, secrets: [{ secretId: '00000000-0000-4000-8000-000000000000', as: 'env:PATH' }] })).toHaveProperty(['secrets[0].as']);
    expect(await bad({ name: 'p', toolType: 'python_script', config: { code: 'pass' }, sharedWithRoles: ['not a role'] })).toHaveProperty(['shared_with_roles[0]']);
  });
});
