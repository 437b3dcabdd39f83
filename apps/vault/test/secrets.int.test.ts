import { createClient, Code, ConnectError, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { describeConnectError } from '@csda/errors';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, generateTestKeys, query, runCommand, startService, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: perms('USER') };
const bob: Principal = { kind: 'user', id: 'user-bob', name: 'bob', roles: ['USER', 'OPS'], permissions: perms('USER') };
const admin: Principal = { kind: 'user', id: 'user-admin', name: 'admin', roles: ['ADMIN'], permissions: perms('ADMIN') };
const readOnly: Principal = { kind: 'user', id: 'user-ro', name: 'ro', roles: ['OPS'], permissions: ['secrets:read'] };

/** The vault as a real process, called over gRPC with gateway-signed identity tokens. */
describe('vault secrets over Connect', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let db: TestDatabase;
  let service: Awaited<ReturnType<typeof startService>>;
  let vault: Client<typeof VaultService>;
  const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const as = async (p: Principal) => ({ headers: principalHeaders(await signer.sign(p, 'vault')) });
  const codeOf = async (promise: Promise<unknown>) => {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    return describeConnectError(err as ConnectError).code;
  };

  beforeAll(async () => {
    db = await createTestDatabase('vault');
    const env = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, ...keys.envFor('vault') };
    expect((await runCommand('vault', 'migrate', env)).code).toBe(0);
    service = await startService('vault', { ...env, NODE_ENV: 'production', NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
    vault = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.rpcPort}` }));
  });

  afterAll(async () => {
    if (process.env.DEBUG_LOGS) console.log(service?.logs());
    await service?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses calls without a token, with a token signed by another key, and with garbage', async () => {
    await expect(vault.getInfo({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    const other = createInternalTokenSigner({ key: parseSigningKey('gateway', generateTestKeys().signingKeys.gateway!) });
    await expect(vault.listSecrets({}, { headers: principalHeaders(await other.sign(alice, 'vault')) })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(vault.listSecrets({}, { headers: principalHeaders('eyJhbGciOiJub25lIn0.e30.') })).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it('creates, versions, reveals and isolates secrets by owner', async () => {
    const { secret } = await vault.createSecret({ name: 'db-password', value: 'v1-s3cr3t', tags: ['db'] }, await as(alice));
    expect(secret).toMatchObject({ name: 'db-password', ownerId: alice.id, currentVersion: 1, tags: ['db'] });
    expect(await vault.revealSecret({ id: secret!.id }, await as(alice))).toMatchObject({ value: 'v1-s3cr3t', version: 1 });

    await vault.putSecretValue({ id: secret!.id, value: 'v2-s3cr3t', expectedVersion: 1 }, await as(alice));
    expect(await codeOf(vault.putSecretValue({ id: secret!.id, value: 'v3', expectedVersion: 1 }, await as(alice)))).toBe('CONFLICT');
    expect((await vault.revealSecret({ id: secret!.id }, await as(alice))).value).toBe('v2-s3cr3t');
    expect((await vault.revealSecret({ id: secret!.id, version: 1 }, await as(alice))).value).toBe('v1-s3cr3t');
    const versions = await vault.listSecretVersions({ id: secret!.id }, await as(alice));
    expect(versions.items.map((v) => [v.version, v.isCurrent])).toEqual([[2, true], [1, false]]);

    const asBob = await as(bob);
    for (const call of [
      () => vault.getSecret({ id: secret!.id }, asBob),
      () => vault.revealSecret({ id: secret!.id }, asBob),
      () => vault.deleteSecret({ id: secret!.id }, asBob),
      async () => vault.getSecret({ id: '00000000-0000-4000-8000-000000000000' }, await as(alice)),
    ]) {
      expect(await codeOf(call())).toBe('NOT_FOUND');
    }
    expect((await vault.listSecrets({}, await as(bob))).total).toBe(0n);
    expect((await vault.listSecrets({}, await as(admin))).items.map((s) => s.id)).toContain(secret!.id);
    expect(await codeOf(vault.createSecret({ name: 'DB-PASSWORD', value: 'x' }, await as(alice)))).toBe('CONFLICT');
  });

  it('shares read access with a role but never write access, and needs secrets:reveal to reveal', async () => {
    const { secret } = await vault.createSecret({ name: 'ops-token', value: 'shared-value', sharedWithRoles: ['OPS'] }, await as(alice));
    expect((await vault.revealSecret({ id: secret!.id }, await as(bob))).value).toBe('shared-value');
    expect(await codeOf(vault.putSecretValue({ id: secret!.id, value: 'hijack' }, await as(bob)))).toBe('NOT_FOUND');
    expect(await codeOf(vault.revealSecret({ id: secret!.id }, await as(readOnly)))).toBe('AUTHORIZATION_ERROR');
    expect((await vault.getSecret({ id: secret!.id }, await as(readOnly))).secret?.name).toBe('ops-token');
  });

  it('rotates with the random strategy and refuses a manual rotation without a value', async () => {
    const { secret } = await vault.createSecret({ name: 'api-key', value: 'initial', rotation: { enabled: true, intervalDays: 30, strategy: 'random' } }, await as(alice));
    const rotated = (await vault.rotateSecret({ id: secret!.id }, await as(alice))).secret!;
    expect(rotated.currentVersion).toBe(2);
    expect(rotated.rotation?.lastRotatedAtMs).toBeGreaterThan(0n);
    expect(Number(rotated.rotation?.nextRotationAtMs) - Number(rotated.rotation?.lastRotatedAtMs)).toBe(30 * 86_400_000);
    const value = (await vault.revealSecret({ id: secret!.id }, await as(alice))).value;
    expect(value).not.toBe('initial');
    expect(value).toMatch(/^[A-Za-z0-9]{32}$/);
    const { secret: manual } = await vault.createSecret({ name: 'manual-key', value: 'm1' }, await as(alice));
    expect(await codeOf(vault.rotateSecret({ id: manual!.id }, await as(alice)))).toBe('VALIDATION_ERROR');
    expect((await vault.rotateSecret({ id: manual!.id, value: 'm2' }, await as(alice))).secret?.currentVersion).toBe(2);
  });

  it('answers VAULT_DECRYPT_ERROR, leaking nothing, when a ciphertext is moved to another row', async () => {
    const a = (await vault.createSecret({ name: 'swap-a', value: 'value-of-a' }, await as(alice))).secret!;
    const b = (await vault.createSecret({ name: 'swap-b', value: 'value-of-b' }, await as(alice))).secret!;
    // An attacker with write access to the database (and the power to bypass the immutability trigger) swaps rows.
    await query(
      db.url,
      `begin; set local session_replication_role = replica;
       update vault.secret_versions set ciphertext = src.ciphertext, wrapped_key = src.wrapped_key
         from (select ciphertext, wrapped_key from vault.secret_versions where secret_id = '${a.id}') src
        where secret_id = '${b.id}'; commit;`,
    );
    const err = (await vault.revealSecret({ id: b.id }, await as(alice)).catch((e: unknown) => e)) as ConnectError;
    expect(describeConnectError(err)).toMatchObject({ code: 'VAULT_DECRYPT_ERROR', message: 'Secret value could not be decrypted' });
    expect(JSON.stringify(err)).not.toContain('value-of');
  });

  it('refuses to reveal an inactive or expired secret until it is re-activated or extended', async () => {
    const s = (await vault.createSecret({ name: 'lifecycle', value: 'still-here' }, await as(alice))).secret!;
    await vault.updateSecret({ id: s.id, isActive: false }, await as(alice));
    expect(await codeOf(vault.revealSecret({ id: s.id }, await as(alice)))).toBe('CONFLICT');
    await vault.updateSecret({ id: s.id, isActive: true, setExpiresAt: true, expiresAtMs: BigInt(Date.now() - 1_000) }, await as(alice));
    expect(await codeOf(vault.revealSecret({ id: s.id }, await as(alice)))).toBe('CONFLICT');
    await vault.updateSecret({ id: s.id, setExpiresAt: true, expiresAtMs: 0n }, await as(alice));
    expect((await vault.revealSecret({ id: s.id }, await as(alice))).value).toBe('still-here');
  });

  it('keeps versions immutable in the database', async () => {
    const s = (await vault.createSecret({ name: 'immutable', value: 'x' }, await as(alice))).secret!;
    await expect(query(db.url, `update vault.secret_versions set ciphertext = '\\x00' where secret_id = $1`, [s.id])).rejects.toThrow(/immutable/);
  });

  it('soft-deletes: gone for the owner, name reusable', async () => {
    const s = (await vault.createSecret({ name: 'temp', value: 'x' }, await as(alice))).secret!;
    await vault.deleteSecret({ id: s.id }, await as(alice));
    expect(await codeOf(vault.getSecret({ id: s.id }, await as(alice)))).toBe('NOT_FOUND');
    expect((await vault.createSecret({ name: 'temp', value: 'y' }, await as(alice))).secret?.currentVersion).toBe(1);
    expect(await query(db.url, 'select deleted_at from vault.secrets where id = $1', [s.id])).toHaveLength(1);
  });

  it('rejects bad input with VALIDATION_ERROR', async () => {
    expect(await codeOf(vault.createSecret({ name: '', value: 'x' }, await as(alice)))).toBe('VALIDATION_ERROR');
    expect(await codeOf(vault.createSecret({ name: 'big', value: 'x'.repeat(70_000) }, await as(alice)))).toBe('VALIDATION_ERROR');
    expect(await codeOf(vault.createSecret({ name: 'r', value: 'x', rotation: { enabled: true, intervalDays: 0, strategy: 'sometimes' } }, await as(alice)))).toBe('VALIDATION_ERROR');
  });
});
