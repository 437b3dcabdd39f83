import { sign as edSign } from 'node:crypto';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  actingFor,
  createInternalTokenSigner,
  keyIdOf,
  parsePrivateKey,
  parseSigningKey,
  principalHeaders,
  SEEDED_ROLES,
  servicePrincipal,
  type Principal,
} from '@csda/auth';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, freePort, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: perms('USER') };
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The trust boundaries of internal identity, attacked against a real vault process. */
describe('vault: service identities and audiences', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const signerOf = (issuer: string) => createInternalTokenSigner({ key: parseSigningKey(issuer, keys.signingKeys[issuer]!) });
  const gateway = signerOf('gateway');
  const scheduler = signerOf('scheduler');
  let db: TestDatabase;
  let service: Awaited<ReturnType<typeof startService>>;
  let vault: Client<typeof VaultService>;
  const headers = (token: string) => ({ headers: principalHeaders(token) });
  const codeOf = (promise: Promise<unknown>) => promise.then(() => 'OK', (e: { code?: Code }) => e.code);

  beforeAll(async () => {
    db = await createTestDatabase('vault');
    const env = { ...keys.envFor('vault'), DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl() };
    expect((await runCommand('vault', 'migrate', env)).code).toBe(0);
    service = await startService('vault', { ...env, NODE_ENV: 'production' });
    vault = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.rpcPort}` }));
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses a user token the gateway minted for another service (no replay from the tool-runner)', async () => {
    expect(await codeOf(vault.listSecrets({}, headers(await gateway.sign(alice, 'tool-runner'))))).toBe(Code.Unauthenticated);
    expect(await codeOf(vault.listSecrets({}, headers(await gateway.sign(alice, 'vault'))))).toBe('OK');
  });

  it('accepts the scheduler naming itself, refuses a scheduler-signed user and issuers the vault does not trust', async () => {
    expect(await codeOf(vault.listSecrets({}, headers(await scheduler.sign(servicePrincipal('scheduler', ['secrets:read']), 'vault'))))).toBe('OK');
    // The signer refuses outright; a hand-built token with the scheduler's key is refused by the vault.
    expect(() => scheduler.sign(alice, 'vault')).toThrow(/may not name a user/);
    const key = parsePrivateKey(keys.signingKeys.scheduler!);
    const iat = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'EdDSA', typ: 'csda-internal+jwt', kid: keyIdOf(key) })}.${b64({ iss: 'scheduler', aud: 'vault', sub: alice.id, name: 'alice', kind: 'user', roles: ['ADMIN'], perms: perms('ADMIN'), iat, exp: iat + 60, jti: 'forged' })}`;
    const forged = `${input}.${edSign(null, Buffer.from(input), key).toString('base64url')}`;
    expect(await codeOf(vault.listSecrets({}, headers(forged)))).toBe(Code.Unauthenticated);
    // search's key is in INTERNAL_VERIFY_KEYS, but search is not a caller the vault trusts.
    expect(await codeOf(vault.listSecrets({}, headers(await signerOf('search').sign(servicePrincipal('search', ['secrets:read']), 'vault'))))).toBe(Code.Unauthenticated);
    // A key nobody configured: unknown kid.
    const stranger = createInternalTokenSigner({ key: parseSigningKey('gateway', generateTestKeys().signingKeys.gateway!) });
    expect(await codeOf(vault.listSecrets({}, headers(await stranger.sign(alice, 'vault'))))).toBe(Code.Unauthenticated);
  });

  it('lets a service acting for a user reveal exactly the secret its scope names', async () => {
    const asAlice = headers(await gateway.sign(alice, 'vault'));
    const { secret: granted } = await vault.createSecret({ name: 'tool-api-key', value: 'granted-value' }, asAlice);
    const { secret: other } = await vault.createSecret({ name: 'other-key', value: 'other-value' }, asAlice);
    const scoped = actingFor(servicePrincipal('scheduler', []), { id: alice.id, name: alice.name, roles: alice.roles }, [['secrets:reveal', granted!.id]]);
    const token = await scheduler.sign(scoped, 'vault');
    expect((await vault.revealSecret({ id: granted!.id }, headers(token))).value).toBe('granted-value');
    expect(await codeOf(vault.revealSecret({ id: other!.id }, headers(token)))).toBe(Code.PermissionDenied);
    expect(await codeOf(vault.listSecrets({}, headers(token)))).toBe(Code.PermissionDenied);
    expect(await codeOf(vault.putSecretValue({ id: granted!.id, value: 'overwritten' }, headers(token)))).toBe(Code.PermissionDenied);
    // Each refusal is on record in the vault's outbox, naming the procedure.
    const denials = await query<{ n: number }>(db.url, "select count(*)::int as n from vault.outbox where subject like '%.csda.audit.vault.permission_denied' or subject = 'csda.audit.vault.permission_denied'");
    expect(denials[0]!.n).toBe(3);
    // The same scope for someone who cannot see the secret reveals nothing.
    const forBob = actingFor(servicePrincipal('scheduler', []), { id: 'user-bob', name: 'bob', roles: ['USER'] }, [['secrets:reveal', granted!.id]]);
    expect(await codeOf(vault.revealSecret({ id: granted!.id }, headers(await scheduler.sign(forBob, 'vault'))))).toBe(Code.NotFound);
  });
});

describe('internal key material is validated before any connection', () => {
  it('exits 78 at once on a malformed key, naming the variable, never printing the key', async () => {
    // Nothing listens on this port: a service that tried to connect first would retry until STARTUP_TIMEOUT_MS.
    const closed = `postgres://postgres@127.0.0.1:${await freePort()}/none`;
    const keys = generateTestKeys();
    const base = { DATABASE_URL: closed, NATS_URL: `nats://127.0.0.1:${await freePort()}`, STARTUP_TIMEOUT_MS: '60000' };
    const started = Date.now();
    const badVerify = await runCommand('vault', 'serve', { ...base, INTERNAL_VERIFY_KEYS: '[{"issuer":"gateway","key":"bm90LWEta2V5"}]' }, 20_000);
    expect(badVerify.code).toBe(78);
    expect(badVerify.stderr + badVerify.stdout).toContain('INTERNAL_VERIFY_KEYS[0].key is not an SPKI public key');
    const privatePem = keys.signingKeys.gateway!;
    const badSigning = await runCommand('gateway', 'serve', { ...base, ...keys.env, INTERNAL_SIGNING_KEY: privatePem.slice(0, 60) }, 20_000);
    expect(badSigning.code).toBe(78);
    expect(badSigning.stderr + badSigning.stdout).toContain('INTERNAL_SIGNING_KEY is not a PKCS#8 private key');
    expect(badSigning.stderr + badSigning.stdout).not.toContain(privatePem.split('\n')[1]!.slice(0, 24));
    const missing = await runCommand('scheduler', 'serve', { ...base, ...keys.env, NODE_ENV: 'production' }, 20_000);
    expect(missing.code).toBe(78);
    expect(missing.stderr + missing.stdout).toContain('INTERNAL_SIGNING_KEY: required when NODE_ENV=production');
    // Three process starts; one that waited on the connections would take STARTUP_TIMEOUT_MS (60 s) alone. Under a
    // loaded clean-clone CI the three took 25 s.
    expect(Date.now() - started).toBeLessThan(45_000);
  });
});
