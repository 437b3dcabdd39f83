import { createHmac, createPrivateKey, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { createInternalTokenSigner, createInternalTokenVerifier } from './internal-token.ts';
import type { Principal } from './permissions.ts';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const pair = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const alice: Principal = { kind: 'user', id: 'u-1', name: 'alice', roles: ['USER'], permissions: ['secrets:read', 'secrets:reveal'] };

function clock(start = T0): { now: () => number; advance: (seconds: number) => void } {
  let t = start;
  return { now: () => t, advance: (seconds) => { t += seconds * 1000; } };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function claims(now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(now / 1000);
  return {
    iss: 'csda-gateway', aud: 'csda-internal', sub: 'u-666', name: 'mallory', kind: 'user',
    roles: ['ADMIN'], perms: ['users:admin'], iat, exp: iat + 60, jti: 'x', ...overrides,
  };
}

/** Hand-built JWS, for tokens jose would refuse to produce. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signWith: (input: string) => string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signWith(input)}`;
}

function setup(key: KeyObject = pair.privateKey) {
  const c = clock();
  const signer = createInternalTokenSigner({ privateKey: key, now: c.now });
  const verifier = createInternalTokenVerifier({ publicKey: pair.publicKey, now: c.now, clockToleranceSeconds: 0 });
  return { c, signer, verifier };
}

async function expectRejected(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AuthenticationError);
  expect((err as Error).message).toBe('Invalid internal identity token');
}

describe('internal identity token', () => {
  it('round-trips a principal with the documented claims', async () => {
    const { signer, verifier } = setup();
    const token = await signer.sign(alice);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'EdDSA', typ: 'csda-internal+jwt' });
    expect(payload).toMatchObject({
      iss: 'csda-gateway', aud: 'csda-internal', sub: 'u-1', name: 'alice', kind: 'user',
      roles: ['USER'], perms: ['secrets:read', 'secrets:reveal'], iat: T0 / 1000, exp: T0 / 1000 + 60,
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(await verifier.verify(token)).toEqual(alice);
  });

  it('refuses an expired token', async () => {
    const { c, signer, verifier } = setup();
    const token = await signer.sign(alice);
    c.advance(59);
    await expect(verifier.verify(token)).resolves.toEqual(alice);
    c.advance(2);
    await expectRejected(verifier.verify(token));
  });

  it('refuses a token signed with another key', async () => {
    const { signer, verifier } = setup(other.privateKey);
    await expectRejected(verifier.verify(await signer.sign(alice)));
  });

  it('refuses a tampered payload', async () => {
    const { signer, verifier } = setup();
    const [header, payload, signature] = (await signer.sign(alice)).split('.');
    const changed = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    changed.perms = ['users:admin'];
    await expectRejected(verifier.verify(`${header}.${b64(changed)}.${signature}`));
  });

  it('refuses alg none', async () => {
    const { c, verifier } = setup();
    const unsigned = forge({ alg: 'none', typ: 'csda-internal+jwt' }, claims(c.now()), () => '');
    await expectRejected(verifier.verify(unsigned));
  });

  it('refuses HS256 keyed with the public key bytes', async () => {
    const { c, verifier } = setup();
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' });
    const der = pair.publicKey.export({ type: 'spki', format: 'der' });
    for (const secret of [pem, der]) {
      const token = forge({ alg: 'HS256', typ: 'csda-internal+jwt' }, claims(c.now()), (input) =>
        createHmac('sha256', secret).update(input).digest('base64url'));
      await expectRejected(verifier.verify(token));
    }
  });

  it('accepts a well-formed hand-built EdDSA token (so the forgeries above fail for their own reason)', async () => {
    const { c, verifier } = setup();
    const good = forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now()), (input) =>
      edSign(null, Buffer.from(input), pair.privateKey).toString('base64url'));
    await expect(verifier.verify(good)).resolves.toMatchObject({ id: 'u-666', permissions: ['users:admin'] });
    const wrongTyp = forge({ alg: 'EdDSA', typ: 'JWT' }, claims(c.now()), (input) =>
      edSign(null, Buffer.from(input), pair.privateKey).toString('base64url'));
    await expectRejected(verifier.verify(wrongTyp));
    const badKind = forge({ alg: 'EdDSA', typ: 'csda-internal+jwt' }, claims(c.now(), { kind: 'root' }), (input) =>
      edSign(null, Buffer.from(input), pair.privateKey).toString('base64url'));
    await expectRejected(verifier.verify(badKind));
  });

  it('refuses the wrong audience or issuer', async () => {
    const c = clock();
    const verifier = createInternalTokenVerifier({ publicKey: pair.publicKey, now: c.now });
    const wrongAud = createInternalTokenSigner({ privateKey: pair.privateKey, audience: 'csda-public', now: c.now });
    const wrongIss = createInternalTokenSigner({ privateKey: pair.privateKey, issuer: 'someone-else', now: c.now });
    await expectRejected(verifier.verify(await wrongAud.sign(alice)));
    await expectRejected(verifier.verify(await wrongIss.sign(alice)));
    const strict = createInternalTokenVerifier({ publicKey: pair.publicKey, now: c.now, audience: 'csda-vault' });
    await expectRejected(strict.verify(await createInternalTokenSigner({ privateKey: pair.privateKey, now: c.now }).sign(alice)));
  });

  it('refuses garbage', async () => {
    const { verifier } = setup();
    for (const junk of ['', 'abc', 'a.b.c', 'x'.repeat(9000)]) await expectRejected(verifier.verify(junk));
  });

  it('reuses a token within half its lifetime and re-signs after', async () => {
    const { c, signer } = setup();
    const first = await signer.sign(alice);
    c.advance(29);
    expect(await signer.sign({ ...alice, roles: [...alice.roles] })).toBe(first);
    expect(await signer.sign({ ...alice, permissions: ['secrets:read'] })).not.toBe(first);
    c.advance(1);
    const second = await signer.sign(alice);
    expect(second).not.toBe(first);
    c.advance(29);
    expect(await signer.sign(alice)).toBe(second);
  });

  it('remembers verified tokens until they expire, bounded in size', async () => {
    const c = clock();
    const signer = createInternalTokenSigner({ privateKey: pair.privateKey, now: c.now });
    const verifier = createInternalTokenVerifier({ publicKey: pair.publicKey, now: c.now, cacheSize: 1, clockToleranceSeconds: 0 });
    const token = await signer.sign(alice);
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
    // A second token pushes the first out of a one-entry cache.
    await verifier.verify(await signer.sign({ ...alice, id: 'u-2' }));
    const again = await verifier.verify(token);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // A cached entry does not outlive the token.
    c.advance(61);
    await expectRejected(verifier.verify(token));
  });

  it('refuses keys that are not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => createInternalTokenSigner({ privateKey: rsa.privateKey })).toThrow(/Ed25519 private key/);
    expect(() => createInternalTokenSigner({ privateKey: pair.publicKey })).toThrow(/Ed25519 private key/);
    expect(() => createInternalTokenVerifier({ publicKey: rsa.publicKey })).toThrow(/Ed25519 public key/);
    const x25519 = createPrivateKey(generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => createInternalTokenSigner({ privateKey: x25519 })).toThrow(TypeError);
  });
});
