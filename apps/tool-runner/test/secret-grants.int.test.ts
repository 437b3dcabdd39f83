import { randomBytes } from 'node:crypto';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { query, runCommand, startService } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, json, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

// The vault's grant records as the tool-runner keeps them: saved with the tool, revoked with it, and enforced at execution.
let h: Harness;
let tr: ToolRunner;
let vault: Client<typeof VaultService>;
let stopVault: () => Promise<unknown>;
const alice = user('alice');

beforeAll(async () => {
  h = await startHarness('tools-grants');
  const vaultEnv = { ...h.env, ...h.keys.envFor('vault'), VAULT_URL: '', LOG_LEVEL: 'warn' };
  const migrated = await runCommand('vault', 'migrate', vaultEnv);
  if (migrated.code !== 0) throw new Error(`vault migrate: ${migrated.stderr}`);
  const v = await startService('vault', vaultEnv);
  stopVault = v.stop;
  vault = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${v.rpcPort}` }));
  tr = await h.start({ VAULT_URL: `http://127.0.0.1:${v.rpcPort}` });
}, 120_000);

afterAll(async () => {
  await stopVault?.();
  await h?.close();
});

const secret = async (v = `sk-${randomBytes(12).toString('hex')}`) =>
  ({ id: (await vault.createSecret({ name: `s-${randomBytes(3).toString('hex')}`, value: v }, await h.asFor(alice, 'vault'))).secret!.id, value: v });
const grantsOf = async (secretId: string, includeRevoked = false) => (await vault.listSecretGrants({ secretId, includeRevoked }, await h.asFor(alice, 'vault'))).items;
const printKey = (as: string, name = 'KEY') =>
  toolInput({ name: `print-${randomBytes(3).toString('hex')}`, toolType: 'python_script', config: { code: `import os\nprint(len(os.environ["${name}"]))` }, secrets: [{ secretId: as, as: `env:${name}` }] });
const run = async (toolId: string) => (await tr.client.executeTool({ id: toolId, input: value({}), wait: true }, await h.as(alice))).execution!;

describe('grants kept in the vault', () => {
  it('records the grants when a tool is saved, replaces them on update and revokes them all on delete', async () => {
    const [a, b] = [await secret(), await secret()];
    const tool = (await tr.client.createTool({ tool: printKey(a.id) }, await h.as(alice))).tool!;
    expect(await grantsOf(a.id)).toEqual([expect.objectContaining({ toolId: tool.id, toolName: tool.name, as: 'env:KEY', grantedBy: alice.id })]);

    // The update moves the tool from secret a to secret b: a's grant is revoked, b's recorded.
    await tr.client.updateTool({ id: tool.id, tool: printKey(b.id, 'OTHER') }, await h.as(alice));
    expect(await grantsOf(a.id)).toEqual([]);
    expect((await grantsOf(a.id, true))[0]).toMatchObject({ toolId: tool.id, revokeReason: 'tool_updated' });
    expect(await grantsOf(b.id)).toEqual([expect.objectContaining({ toolId: tool.id, as: 'env:OTHER' })]);

    await tr.client.deleteTool({ id: tool.id }, await h.as(alice));
    expect(await grantsOf(b.id)).toEqual([]);
    expect((await grantsOf(b.id, true))[0]).toMatchObject({ toolId: tool.id, revokeReason: 'tool_deleted', revokedBy: alice.id });
    const audited = await query<{ n: number }>(h.db.url, `select count(*)::int as n from vault.outbox where subject like '%secret_grant_revoked' and aggregate = $1`, [`secret:${b.id}`]);
    expect(audited[0]!.n).toBe(1);
  });

  it('reveals for the execution (audited with its id), and fails the execution with the reason once the owner revokes the grant', async () => {
    const s = await secret();
    const tool = (await tr.client.createTool({ tool: printKey(s.id) }, await h.as(alice))).tool!;
    const ok = await run(tool.id);
    expect(ok.status).toBe('completed');
    expect(json(ok)).toBe(s.value.length);
    const reveals = await query<{ payload: Buffer }>(h.db.url, `select payload from vault.outbox where subject like '%secret_revealed' and aggregate = $1`, [`secret:${s.id}`]);
    expect(reveals).toHaveLength(1);
    expect(reveals[0]!.payload.includes(Buffer.from(ok.id))).toBe(true);
    expect(reveals[0]!.payload.includes(Buffer.from(tool.id))).toBe(true);

    await vault.revokeSecretGrant({ secretId: s.id, toolId: tool.id }, await h.asFor(alice, 'vault'));
    const refused = await run(tool.id);
    expect(refused.status).toBe('failed');
    expect(refused.error?.code).toBe('SECRET_UNAVAILABLE');
    expect(refused.error?.message).toContain(`grant of secret ${s.id} to tool ${tool.id} was revoked`);
    expect(json(refused) ?? null).toBeNull();
    const [row] = await query<{ t: string }>(h.db.url, 'select row_to_json(e)::text as t from tools.executions e where id = $1', [refused.id]);
    expect(row!.t).not.toContain(s.value);
    const refusals = await query<{ payload: Buffer }>(h.db.url, `select payload from vault.outbox where subject like '%secret_reveal_refused' and aggregate = $1`, [`secret:${s.id}`]);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.payload.includes(Buffer.from(refused.id))).toBe(true);
    const [leaks] = await query<{ n: number }>(h.db.url, 'select (select count(*) from vault.outbox where position($1::bytea in payload) > 0) + (select count(*) from tools.outbox where position($1::bytea in payload) > 0) as n', [Buffer.from(s.value)]);
    expect(Number(leaks!.n)).toBe(0);
    expect(tr.logs()).not.toContain(s.value);

    // Saving the tool again re-grants it (alice may reveal the secret), and it runs again.
    await tr.client.updateTool({ id: tool.id, tool: printKey(s.id) }, await h.as(alice));
    expect((await run(tool.id)).status).toBe('completed');
  });

  it('does not let a user without secrets:reveal re-grant a revoked secret by saving the tool again', async () => {
    const s = await secret();
    const tool = (await tr.client.createTool({ tool: printKey(s.id) }, await h.as(alice))).tool!;
    await vault.revokeSecretGrant({ secretId: s.id, toolId: tool.id }, await h.asFor(alice, 'vault'));
    const noReveal = { ...alice, permissions: alice.permissions.filter((p) => p !== 'secrets:reveal') };
    const err = await describeError(tr.client.updateTool({ id: tool.id, tool: { ...printKey(s.id), description: 'edited' } }, await h.as(noReveal)));
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.details.secrets).toContain(`Granting secret ${s.id} to a tool needs secrets:reveal on it`);
    // Nothing changed: the tool keeps its version and the grant stays revoked.
    expect((await tr.client.getTool({ id: tool.id }, await h.as(alice))).tool).toMatchObject({ version: 1, description: '' });
    expect(await grantsOf(s.id)).toEqual([]);
  });
});
