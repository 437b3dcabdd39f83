import { randomBytes } from 'node:crypto';
import { createTestDatabase, deleteNamespace, natsUrl, query, startStack, testNamespace, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

/**
 * Secret grants on the real stack: a tool saved with a secret is granted it
 * in the vault, the secret's owner lists and withdraws the grant over REST,
 * the tool's executions then fail with the reason, and every grant, reveal
 * and refusal reaches the audit log with the tool and execution ids — never the value.
 */
describe('secret grants through the gateway (real stack)', () => {
  const namespace = testNamespace();
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const userPassword = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const { api, login } = restClient(() => stack.gatewayUrl);

  const tool = (secretId: string, name: string) => ({
    name,
    tool_type: 'python_script',
    config: { code: 'import os, json\nk = os.environ["API_KEY"]\nprint(json.dumps({"echo": k, "n": len(k)}))\n' },
    secrets: [{ secret_id: secretId, as: 'env:API_KEY' }],
    timeout_s: 30,
  });
  const execute = async (toolId: string) => {
    const res = await api('POST', `/api/v1/tools/${toolId}/execute`, tokens.alice, { input: {}, wait: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body!;
  };
  /** Audit log rows of `action` on the secret, once the gateway has persisted `count` of them. */
  const audited = async (action: string, secretId: string, count: number) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await api('GET', `/api/v1/audit?action=${action}&resource_id=${secretId}`, tokens.admin);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      if (res.body!.items.length >= count || Date.now() > deadline) return res.body!.items as { actor: string; details: Record<string, string> }[];
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase('grants_flow');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: natsUrl(), TOOLS_WAIT_MAX_S: '20' } });
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

  it('grants at save, lists for the owner only, and a withdrawn grant fails the execution with the reason', async () => {
    const secret = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'psp-key', value: canary });
    expect(secret.status).toBe(201);
    const secretId = secret.body!.id as string;
    const created = await api('POST', '/api/v1/tools', tokens.alice, tool(secretId, 'charge'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const toolId = created.body!.id as string;

    const grants = await api('GET', `/api/v1/vault/secrets/${secretId}/grants`, tokens.alice);
    expect(grants.status).toBe(200);
    expect(grants.body).toMatchObject({ total: 1, items: [{ secret_id: secretId, tool_id: toolId, tool_name: 'charge', as: 'env:API_KEY', granted_by: ids.alice, active: true, revoked_at: null }] });
    expect((await api('GET', `/api/v1/vault/secrets/${secretId}/grants`, tokens.bob)).status).toBe(404);
    expect((await api('DELETE', `/api/v1/vault/secrets/${secretId}/grants/${toolId}`, tokens.bob)).status).toBe(404);

    const ok = await execute(toolId);
    expect(ok).toMatchObject({ status: 'completed', output: { echo: '[REDACTED]', n: canary.length } });

    expect((await api('DELETE', `/api/v1/vault/secrets/${secretId}/grants/${toolId}`, tokens.alice)).status).toBe(204);
    expect((await api('DELETE', `/api/v1/vault/secrets/${secretId}/grants/${toolId}`, tokens.alice)).status).toBe(404);
    const history = await api('GET', `/api/v1/vault/secrets/${secretId}/grants?include_revoked=true`, tokens.alice);
    expect(history.body?.items[0]).toMatchObject({ tool_id: toolId, active: false, revoked_by: ids.alice, revoke_reason: 'owner_revoked' });

    const refused = await execute(toolId);
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'SECRET_UNAVAILABLE', message: expect.stringContaining(`grant of secret ${secretId} to tool ${toolId} was revoked`) });

    // Every step is in the audit log, the tool-runner named as the vault's caller, with the ids.
    const granted = await audited('secret_granted', secretId, 1);
    expect(granted[0]).toMatchObject({ actor: 'service:vault', details: { tool_id: toolId, as: 'env:API_KEY', caller: 'service:tool-runner', on_behalf_of: ids.alice } });
    const revealed = await audited('secret_revealed', secretId, 1);
    expect(revealed.map((a) => a.details.execution_id)).toEqual([ok.id]);
    const denied = await audited('secret_reveal_refused', secretId, 1);
    expect(denied[0]?.details).toMatchObject({ reason: 'grant_revoked', tool_id: toolId, execution_id: refused.id });
    expect((await audited('secret_grant_revoked', secretId, 1))[0]).toMatchObject({ actor: ids.alice, details: { reason: 'owner_revoked', tool_id: toolId } });
    const [leak] = await query<{ n: number }>(db.url, 'select count(*)::int as n from identity.audit_log where payload::text like $1', [`%${canary}%`]);
    expect(leak!.n).toBe(0);
  });

  it('revokes a deleted tool’s grants', async () => {
    const secret = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'other-key', value: `v-${randomBytes(8).toString('hex')}` });
    const secretId = secret.body!.id as string;
    const toolId = (await api('POST', '/api/v1/tools', tokens.alice, tool(secretId, 'to-delete'))).body!.id as string;
    expect((await api('DELETE', `/api/v1/tools/${toolId}`, tokens.alice)).status).toBe(204);
    expect((await api('GET', `/api/v1/vault/secrets/${secretId}/grants`, tokens.alice)).body).toMatchObject({ total: 0, items: [] });
    const history = await api('GET', `/api/v1/vault/secrets/${secretId}/grants?include_revoked=true`, tokens.alice);
    expect(history.body?.items).toEqual([expect.objectContaining({ tool_id: toolId, active: false, revoke_reason: 'tool_deleted' })]);
  });
});
