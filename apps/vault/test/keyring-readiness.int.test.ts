import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, freePort, generateTestKeys, natsUrl, query, runCommand, spawnService, startService, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const owner: Principal = { kind: 'user', id: 'user-owner', name: 'owner', roles: ['USER'], permissions: [...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions] };

/** A KEK removed from VAULT_KEYRING while stored versions still need it: the vault is not ready, and says which key. */
describe('vault readiness against the keyring', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const keyA = randomBytes(32).toString('base64');
  const keyB = randomBytes(32).toString('base64');
  const onlyA = JSON.stringify({ active: 'key-a', keys: { 'key-a': keyA } });
  const onlyB = JSON.stringify({ active: 'key-b', keys: { 'key-b': keyB } });
  const both = JSON.stringify({ active: 'key-b', keys: { 'key-a': keyA, 'key-b': keyB } });
  let db: TestDatabase;
  const env = (keyring: string) => ({ ...keys.envFor('vault'), VAULT_KEYRING: keyring, DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), HOST: '127.0.0.1', NODE_ENV: 'test' });

  beforeAll(async () => {
    db = await createTestDatabase('vault_keyring');
    expect((await runCommand('vault', 'migrate', env(onlyA))).code).toBe(0);
    const vault = await startService('vault', env(onlyA));
    try {
      const client = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${vault.rpcPort}` }));
      const as = async () => ({ headers: principalHeaders(await signer.sign(owner, 'vault')) });
      const made = await client.createSecret({ name: 'under-a-1', value: 'v1' }, await as());
      await client.putSecretValue({ id: made.secret!.id, value: 'v2' }, await as());
      await client.createSecret({ name: 'under-a-2', value: 'v3' }, await as());
    } finally {
      expect(await vault.stop()).toBe(0);
    }
    const stored = await query<{ key_id: string }>(db.url, 'select key_id from vault.secret_versions');
    expect(stored.map((r) => r.key_id)).toEqual(['key-a', 'key-a', 'key-a']);
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('is not ready with a keyring of only key B, naming key A once in the log and never key material', async () => {
    const [rpc, ops] = [await freePort(), await freePort()];
    const vault = spawnService('vault', env(onlyB), rpc, ops);
    try {
      let res: Response | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && vault.process.exitCode === null) {
        res = await fetch(`http://127.0.0.1:${ops}/readyz`).catch(() => undefined);
        if (res && vault.logs().includes('serving')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(res?.status, vault.logs()).toBe(503);
      const body = (await res!.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
      expect(body.checks.keyring).toEqual({ ok: false, detail: 'stored versions use key id(s) missing from VAULT_KEYRING: key-a' });
      expect(body.checks.postgres?.ok).toBe(true);
      for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${ops}/readyz`)).status).toBe(503);
      const lines = vault.logs().split('\n').filter((l) => l.includes('missing from VAULT_KEYRING'));
      expect(lines).toHaveLength(1);
      const logged = JSON.parse(lines[0]!) as { missing_key_ids: string[]; missing_key_count: number; versions_affected: number };
      expect(logged).toMatchObject({ missing_key_ids: ['key-a'], missing_key_count: 1, versions_affected: 3 });
      expect(vault.logs()).not.toContain(keyA);
      expect(vault.logs()).not.toContain(keyB);
      expect(JSON.stringify(body)).not.toContain(keyB);
    } finally {
      const exited = once(vault.process, 'exit');
      vault.process.kill('SIGTERM');
      await exited;
    }
  }, 60_000);

  it('is ready once the keyring holds key A again (next to the new active key B)', async () => {
    const vault = await startService('vault', env(both));
    try {
      const body = (await (await fetch(`http://127.0.0.1:${vault.httpPort}/readyz`)).json()) as { checks: Record<string, { ok: boolean }> };
      expect(body.checks.keyring).toEqual({ ok: true });
      expect(vault.logs()).not.toContain('missing from VAULT_KEYRING');
    } finally {
      expect(await vault.stop()).toBe(0);
    }
  }, 60_000);
});
