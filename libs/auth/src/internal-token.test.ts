import { createHmac, createPrivateKey, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { createInternalTokenSigner, createInternalTokenVerifier } from './internal-token.ts';
import { keyIdOf, signingKeyOf, verifyKeyOf, verifyKeySet } from './key-set.ts';
import { actingFor, servicePrincipal, type Principal } from './permissions.ts';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const gatewayPair = generateKeyPairSync('ed25519');
const schedulerPair = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const alice: Principal = { kind: 'user', id: 'u-1', name: 'alice', roles: ['USER'], permissions: ['secrets:read', 'secrets:reveal'] };
const scheduler = servicePrincipal('scheduler', ['secrets:read']);

function clock(start = T0): { now: () => number; advance: (seconds: number) => void } {
  let t = start;
  return { now: () => t, advance: (seconds) => { t += seconds * 1000; } };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const keys = (...entries: [string, KeyObject][]) => verifyKeySet(entries.map(([issuer, key]) => verifyKeyOf(issuer, key)), ['gateway', 'scheduler']);
const vaultKeys = keys(['gateway', gatewayPair.publicKey], ['scheduler', schedulerPair.publicKey]);

function claims(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(now / 1000);
  return {
    iss: 'gateway', aud: 'vault', sub: 'u-666', name: 'mallory', kind: 'user',
    roles: ['ADMIN'], perms: ['users:admin'], iat, exp: iat + 60, jti: 'x', ...overrides,
  };
}

/** Hand-built JWS, for tokens jose (or our signer) would refuse to produce. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject = gatewayPair.privateKey): string {
  const input = `${b64({ kid: keyIdOf(key), ...header })}.${b64(payload)}`;
  return `${input}.${edSign(null, Buffer.from(input), key).toString('base64url')}`;
}

function setup(issuer = 'gateway', key: KeyObject = gatewayPair.privateKey) {
  const c = clock();
  const signer = createInternalTokenSigner({ key: signingKeyOf(issuer, key), now: c.now });
  const verifier = createInternalTokenVerifier({ audience: 'vault', keys: vaultKeys, now: c.now, clockToleranceSeconds: 0 });
  return { c, signer, verifier };
}

async function expectRejected(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AuthenticationError);
  expect((err as Error).message).toBe('Invalid internal identity token');
}

describe('internal identity token', () => {
  it('round-trips a principal with the documented claims, naming issuer, audience and key id', async () => {
    const { signer, verifier } = setup();
    const token = await signer.sign(alice, 'vault');
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'EdDSA', typ: 'csda-internal+jwt', kid: keyIdOf(gatewayPair.publicKey) });
    expect(payload).toMatchObject({
      iss: 'gateway', aud: 'vault', sub: 'u-1', name: 'alice', kind: 'user',
      roles: ['USER'], perms: ['secrets:read', 'secrets:reveal'], iat: T0 / 1000, exp: T0 / 1000 + 60,
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(await verifier.verify(token)).toEqual(alice);
  });

  it('refuses a token minted for another audience (a tool-runner token replayed to the vault)', async () => {
    const { signer, verifier } = setup();
    await expectRejected(verifier.verify(await signer.sign(alice, 'tool-runner')));
    await expect(verifier.verify(await signer.sign(alice, 'vault'))).resolves.toEqual(alice);
  });

  it('caches per (principal, audience): the same user gets a different token per callee', async () => {
    const { signer } = setup();
    const forVault = await signer.sign(alice, 'vault');
    expect(await signer.sign(alice, 'vault')).toBe(forVault);
    expect(await signer.sign(alice, 'search')).not.toBe(forVault);
  });

  it('refuses an unknown key id, and a missing one', async () => {
    const { c, verifier } = setup();
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now()), stranger.privateKey)));
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt', kid: undefined }, claims(c.now()))));
    // A known kid with a signature by another key fails too.
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt', kid: keyIdOf(gatewayPair.publicKey) }, claims(c.now()), stranger.privateKey)));
  });

  it('refuses a service key minting a user principal, in the signer and in a hand-built token', async () => {
    const { c, signer, verifier } = setup('scheduler', schedulerPair.privateKey);
    expect(() => signer.sign(alice, 'vault')).toThrow(/scheduler may not name a user/);
    const forged = forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { iss: 'scheduler' }), schedulerPair.privateKey);
    await expectRejected(verifier.verify(forged));
    // …and a scheduler key cannot pass for the gateway by claiming its issuer.
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now()), schedulerPair.privateKey)));
  });

  it('lets a service name only itself', async () => {
    const { c, signer, verifier } = setup('scheduler', schedulerPair.privateKey);
    expect(await verifier.verify(await signer.sign(scheduler, 'vault'))).toEqual(scheduler);
    expect(() => signer.sign(servicePrincipal('tool-runner', []), 'vault')).toThrow(/may only name service:scheduler/);
    const forged = forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { iss: 'scheduler', kind: 'service', sub: 'service:gateway', name: 'gateway' }), schedulerPair.privateKey);
    await expectRejected(verifier.verify(forged));
  });

  it('carries a narrowed scope when a service acts for a user, and refuses acting without one', async () => {
    const { c, signer, verifier } = setup('scheduler', schedulerPair.privateKey);
    const acting = actingFor(scheduler, { id: 'u-1', name: 'alice', roles: ['USER'] }, [['secrets:reveal', 's-1']]);
    const verified = await verifier.verify(await signer.sign(acting, 'vault'));
    expect(verified).toEqual(acting);
    expect(verified.permissions).toEqual(['secrets:reveal']);
    expect(verified.scope).toEqual(['secrets:reveal:s-1']);
    const { scope: _dropped, ...unscoped } = acting;
    expect(() => signer.sign(unscoped, 'vault')).toThrow(/explicit scope/);
    const forged = forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { iss: 'scheduler', kind: 'service', sub: 'service:scheduler', name: 'scheduler', obo: { sub: 'u-1', name: 'alice', roles: [] } }), schedulerPair.privateKey);
    await expectRejected(verifier.verify(forged));
  });

  it('refuses issuers the service does not trust even with a valid signature', async () => {
    const c = clock();
    const toolRunner = createInternalTokenSigner({ key: signingKeyOf('tool-runner', stranger.privateKey), now: c.now });
    const verifier = createInternalTokenVerifier({
      audience: 'search',
      keys: verifyKeySet([verifyKeyOf('gateway', gatewayPair.publicKey), verifyKeyOf('tool-runner', stranger.publicKey)], ['gateway', 'document-ingest']),
      now: c.now,
    });
    await expectRejected(verifier.verify(await toolRunner.sign(servicePrincipal('tool-runner', []), 'search')));
  });

  it('verifies old and new keys side by side while a key rotates', async () => {
    const c = clock();
    const next = generateKeyPairSync('ed25519');
    const both = keys(['gateway', gatewayPair.publicKey], ['gateway', next.publicKey]);
    const verifier = createInternalTokenVerifier({ audience: 'vault', keys: both, now: c.now });
    const oldSigner = createInternalTokenSigner({ key: signingKeyOf('gateway', gatewayPair.privateKey), now: c.now });
    const newSigner = createInternalTokenSigner({ key: signingKeyOf('gateway', next.privateKey), now: c.now });
    await expect(verifier.verify(await oldSigner.sign(alice, 'vault'))).resolves.toEqual(alice);
    await expect(verifier.verify(await newSigner.sign(alice, 'vault'))).resolves.toEqual(alice);
    const afterRotation = createInternalTokenVerifier({ audience: 'vault', keys: keys(['gateway', next.publicKey]), now: c.now });
    await expectRejected(afterRotation.verify(await oldSigner.sign({ ...alice, id: 'u-9' }, 'vault')));
  });

  it('refuses an expired token', async () => {
    const { c, signer, verifier } = setup();
    const token = await signer.sign(alice, 'vault');
    c.advance(59);
    await expect(verifier.verify(token)).resolves.toEqual(alice);
    c.advance(2);
    await expectRejected(verifier.verify(token));
  });

  it('refuses a tampered payload', async () => {
    const { signer, verifier } = setup();
    const [header, payload, signature] = (await signer.sign(alice, 'vault')).split('.');
    const changed = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    changed.perms = ['users:admin'];
    await expectRejected(verifier.verify(`${header}.${b64(changed)}.${signature}`));
  });

  it('refuses alg none', async () => {
    const { c, verifier } = setup();
    const unsigned = `${b64({ alg: 'none', typ: 'csda-internal+jwt', kid: keyIdOf(gatewayPair.publicKey) })}.${b64(claims(c.now()))}.`;
    await expectRejected(verifier.verify(unsigned));
  });

  it('refuses HS256 keyed with the public key bytes', async () => {
    const { c, verifier } = setup();
    const pem = gatewayPair.publicKey.export({ type: 'spki', format: 'pem' });
    const der = gatewayPair.publicKey.export({ type: 'spki', format: 'der' });
    for (const secret of [pem, der]) {
      const input = `${b64({ alg: 'HS256', typ: 'csda-internal+jwt', kid: keyIdOf(gatewayPair.publicKey) })}.${b64(claims(c.now()))}`;
      await expectRejected(verifier.verify(`${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`));
    }
  });

  it('accepts a well-formed hand-built EdDSA token (so the forgeries above fail for their own reason)', async () => {
    const { c, verifier } = setup();
    await expect(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now())))).resolves.toMatchObject({ id: 'u-666', permissions: ['users:admin'] });
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'JWT' }, claims(c.now()))));
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { kind: 'root' }))));
    await expectRejected(verifier.verify(forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { aud: 'csda-internal' }))));
  });

  it('refuses garbage', async () => {
    const { verifier } = setup();
    for (const junk of ['', 'abc', 'a.b.c', 'x'.repeat(9000)]) await expectRejected(verifier.verify(junk));
  });

  it('reuses a token within half its lifetime and re-signs after', async () => {
    const { c, signer } = setup();
    const first = await signer.sign(alice, 'vault');
    c.advance(29);
    expect(await signer.sign({ ...alice, roles: [...alice.roles] }, 'vault')).toBe(first);
    expect(await signer.sign({ ...alice, permissions: ['secrets:read'] }, 'vault')).not.toBe(first);
    c.advance(1);
    const second = await signer.sign(alice, 'vault');
    expect(second).not.toBe(first);
    c.advance(29);
    expect(await signer.sign(alice, 'vault')).toBe(second);
  });

  it('remembers verified tokens until they expire, bounded in size', async () => {
    const c = clock();
    const signer = createInternalTokenSigner({ key: signingKeyOf('gateway', gatewayPair.privateKey), now: c.now });
    const verifier = createInternalTokenVerifier({ audience: 'vault', keys: vaultKeys, now: c.now, cacheSize: 1, clockToleranceSeconds: 0 });
    const token = await signer.sign(alice, 'vault');
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
    // A second token pushes the first out of a one-entry cache.
    await verifier.verify(await signer.sign({ ...alice, id: 'u-2' }, 'vault'));
    const again = await verifier.verify(token);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // A cached entry does not outlive the token.
    c.advance(61);
    await expectRejected(verifier.verify(token));
  });

  it('refuses keys that are not Ed25519, and an empty key set', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => createInternalTokenSigner({ key: { issuer: 'gateway', kid: 'k', privateKey: rsa.privateKey } })).toThrow(/Ed25519 private key/);
    expect(() => createInternalTokenSigner({ key: { issuer: 'gateway', kid: 'k', privateKey: gatewayPair.publicKey } })).toThrow(/Ed25519 private key/);
    expect(() => createInternalTokenVerifier({ audience: 'vault', keys: new Map([['k', { issuer: 'gateway', kid: 'k', publicKey: rsa.publicKey }]]) })).toThrow(/Ed25519 public key/);
    const x25519 = createPrivateKey(generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => createInternalTokenSigner({ key: { issuer: 'gateway', kid: 'k', privateKey: x25519 } })).toThrow(TypeError);
    expect(() => createInternalTokenVerifier({ audience: 'vault', keys: new Map() })).toThrow(/empty/);
  });
});
