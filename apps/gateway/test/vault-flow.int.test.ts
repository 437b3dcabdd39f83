import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createClient, Code } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, natsUrl, query, startStack, testNamespace, type Stack, type TestDatabase } from '@csda/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

const run = promisify(execFile);

/** The whole vault slice over real HTTP: REST → gateway auth → signed identity → Connect → vault → its schema → AUDIT. */
describe('vault through the gateway', () => {
  const namespace = testNamespace();
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const userPassword = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const { api, login } = restClient(() => stack.gatewayUrl);

  beforeAll(async () => {
    db = await createTestDatabase('vault_flow');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: natsUrl() } });
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

  let secretId = '';

  it('lets a user create, read, version, reveal and rotate a secret', async () => {
    const created = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'payments-api-key', value: canary, tags: ['payments'], description: 'PSP key' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'payments-api-key', owner_id: ids.alice, current_version: 1, tags: ['payments'], is_active: true });
    expect(JSON.stringify(created.body)).not.toContain(canary);
    secretId = created.body!.id;

    expect((await api('GET', `/api/v1/vault/secrets/${secretId}/value`, tokens.alice)).body).toEqual({ value: canary, version: 1 });
    const list = await api('GET', '/api/v1/vault/secrets', tokens.alice);
    expect(list.body).toMatchObject({ total: 1, limit: 50, offset: 0 });
    expect(JSON.stringify(list.body)).not.toContain(canary);

    const conflict = await api('PUT', `/api/v1/vault/secrets/${secretId}/value`, tokens.alice, { value: `${canary}-2`, expected_version: 7 });
    expect(conflict.status).toBe(409);
    expect(conflict.body?.error.code).toBe('CONFLICT');
    expect((await api('PUT', `/api/v1/vault/secrets/${secretId}/value`, tokens.alice, { value: `${canary}-2`, expected_version: 1 })).body?.current_version).toBe(2);
    expect((await api('GET', `/api/v1/vault/secrets/${secretId}/versions`, tokens.alice)).body?.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await api('POST', `/api/v1/vault/secrets/${secretId}/rotate`, tokens.alice, { value: `${canary}-3` })).body?.current_version).toBe(3);
    expect((await api('PATCH', `/api/v1/vault/secrets/${secretId}`, tokens.alice, { description: 'rotated PSP key' })).body?.description).toBe('rotated PSP key');
  });

  it('isolates users both ways: not yours looks exactly like not found', async () => {
    const bobs = await api('POST', '/api/v1/vault/secrets', tokens.bob, { name: 'bob-only', value: `${canary}-bob` });
    expect(bobs.status).toBe(201);
    const missing = await api('GET', '/api/v1/vault/secrets/00000000-0000-4000-8000-000000000000', tokens.bob);
    for (const [token, id] of [[tokens.bob, secretId], [tokens.alice, bobs.body!.id]] as const) {
      for (const path of ['', '/value', '/versions']) {
        const res = await api('GET', `/api/v1/vault/secrets/${id}${path}`, token);
        expect(res.status).toBe(404);
        expect(res.body?.error.code).toBe(missing.body?.error.code);
      }
      expect((await api('DELETE', `/api/v1/vault/secrets/${id}`, token)).status).toBe(404);
      expect((await api('PUT', `/api/v1/vault/secrets/${id}/value`, token, { value: 'x' })).status).toBe(404);
    }
    expect((await api('GET', '/api/v1/vault/secrets', tokens.bob)).body?.items.map((s: { name: string }) => s.name)).toEqual(['bob-only']);
  });

  it('refuses missing, forged and alg:none tokens', async () => {
    expect((await api('GET', '/api/v1/vault/secrets')).status).toBe(401);
    const forged = await new SignJWT({ sub: ids.alice, username: 'alice', roles: ['ADMIN'], perms: ['secrets:admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('not-the-gateway-secret-but-long-enough-0123456789'));
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: ids.alice, roles: ['ADMIN'], exp: 9_999_999_999 })).toString('base64url')}.`;
    for (const token of [forged, none, 'garbage']) {
      const res = await api('GET', `/api/v1/vault/secrets/${secretId}/value`, token);
      expect(res.status).toBe(401);
      expect(res.body?.error.code).toBe('AUTHENTICATION_ERROR');
    }
  });

  it('refuses a direct call to the vault without an internal token', async () => {
    const vault = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${stack.services.vault.rpcPort}` }));
    await expect(vault.revealSecret({ id: secretId })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(vault.listSecrets({}, { headers: { 'csda-internal-token': tokens.alice! } })).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it('audits logins and every secret action, readable by audit:read holders only', async () => {
    expect((await api('POST', '/api/v1/auth/login', undefined, { username: 'alice', password: 'wrong-password-123' })).status).toBe(401);
    // The secret's strategy is manual (the default): its new values, put or rotated, are audited as rotations.
    const expected = ['login_succeeded', 'login_failed', 'secret_created', 'secret_revealed', 'secret_rotated', 'secret_updated'];
    const deadline = Date.now() + 15_000;
    let actions: string[] = [];
    while (Date.now() < deadline) {
      actions = (await query<{ action: string }>(db.url, 'select distinct action from identity.audit_log')).map((r) => r.action);
      if (expected.every((a) => actions.includes(a))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(actions).toEqual(expect.arrayContaining(expected));
    const reveals = await api('GET', `/api/v1/audit?action=secret_revealed&actor=${ids.alice}`, tokens.admin);
    expect(reveals.status).toBe(200);
    expect(reveals.body?.items[0]).toMatchObject({ action: 'secret_revealed', actor: ids.alice, resource_type: 'secret', resource_id: secretId });
    expect((await api('GET', '/api/v1/audit', tokens.alice)).status).toBe(403);
  });

  it('deletes: the secret is gone for its owner', async () => {
    expect((await api('DELETE', `/api/v1/vault/secrets/${secretId}`, tokens.alice)).status).toBe(204);
    expect((await api('GET', `/api/v1/vault/secrets/${secretId}`, tokens.alice)).status).toBe(404);
  });

  it('never lets a secret value or password reach the database in clear, JetStream, Redis or the logs', async () => {
    const needles = [canary, userPassword, stack.env.ADMIN_INITIAL_PASSWORD!];
    const { stdout: dump } = await run('pg_dump', ['--data-only', '--no-owner', db.url], { maxBuffer: 256 * 1024 * 1024 });
    expect(dump).toContain('identity'); // the dump is real and holds the platform's data
    const seen: Record<string, string> = { database: dump };

    const nc = await connect({ servers: natsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      let messages = '';
      for await (const name of jsm.streams.names()) {
        if (!name.startsWith(`${namespace}_`)) continue;
        const info = await jsm.streams.info(name);
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const msg = await jsm.streams.getMessage(name, { seq }).catch(() => null);
          if (msg) messages += Buffer.from(msg.data).toString('latin1') + JSON.stringify([...(msg.header ?? [])]);
        }
      }
      expect(messages).toContain('secret_revealed');
      seen.jetstream = messages;
    } finally {
      await nc.close();
    }

    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      let cached = '';
      for (const key of await redis.keys(`${namespace}:*`)) cached += `${key}=${JSON.stringify(await redis.dump(key))}`;
      seen.redis = cached;
    } finally {
      redis.disconnect();
    }
    seen.logs = Object.values(stack.services).map((s) => s.logs()).join('\n');
    expect(seen.logs).toContain('request completed');

    for (const [where, text] of Object.entries(seen)) {
      for (const needle of needles) expect(text.includes(needle), `${where} contains a secret`).toBe(false);
    }
  });
});
