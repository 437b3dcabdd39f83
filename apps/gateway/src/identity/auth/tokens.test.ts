import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT, base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, ACCESS_TOKEN_TYPE, createAccessTokens, generateRefreshToken, hashRefreshToken } from './tokens.ts';

const secret = randomBytes(32);
const subject = { id: '0b6c8a5e-6d1f-4c47-9a53-9f1f3c0f5c11', username: 'alice', roles: ['USER'], permissions: ['secrets:read'] };

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('access tokens', () => {
  it('round-trips subject, roles, permissions and session', async () => {
    const tokens = createAccessTokens({ secret, ttlSeconds: 900 });
    const token = await tokens.sign(subject, 'family-1');
    const verified = await tokens.verify(token);
    expect(verified.principal).toEqual({ kind: 'user', id: subject.id, name: 'alice', roles: ['USER'], permissions: ['secrets:read'] });
    expect(verified.sessionId).toBe('family-1');
    expect(Math.abs(verified.issuedAtMs - Date.now())).toBeLessThan(5_000);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE });
    expect(payload).toMatchObject({ sub: subject.id, username: 'alice', roles: ['USER'], perms: ['secrets:read'], iss: ACCESS_TOKEN_ISSUER, aud: ACCESS_TOKEN_AUDIENCE });
    expect(payload.exp - payload.iat).toBe(900);
    expect(typeof payload.jti).toBe('string');
  });

  it('refuses an expired token', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const tokens = createAccessTokens({ secret, ttlSeconds: 60, now: () => now });
    const token = await tokens.sign(subject, 'f');
    now += 61_000;
    expect(await rejection(tokens.verify(token))).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Access token expired' });
  });

  it('refuses an expired token even after it was verified (and cached) while valid', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const tokens = createAccessTokens({ secret, ttlSeconds: 60, now: () => now });
    const token = await tokens.sign(subject, 'f');
    expect((await tokens.verify(token)).principal.id).toBe(subject.id);
    expect(await tokens.verify(token)).toBe(await tokens.verify(token));
    now += 61_000;
    expect(await rejection(tokens.verify(token))).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Access token expired' });
  });

  it('refuses a token signed with another secret', async () => {
    const other = createAccessTokens({ secret: randomBytes(32), ttlSeconds: 900 });
    const token = await other.sign(subject, 'f');
    expect(await rejection(createAccessTokens({ secret, ttlSeconds: 900 }).verify(token))).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Invalid access token' });
  });

  it('refuses a forged payload under the original signature', async () => {
    const tokens = createAccessTokens({ secret, ttlSeconds: 900 });
    const [header, payload, signature] = (await tokens.sign(subject, 'f')).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = base64url.encode(JSON.stringify({ ...claims, roles: ['ADMIN'], perms: ['users:admin'] }));
    expect(await rejection(tokens.verify(`${header}.${forged}.${signature}`))).toMatchObject({ code: 'AUTHENTICATION_ERROR' });
  });

  it('refuses alg:none (unsecured) tokens', async () => {
    const tokens = createAccessTokens({ secret, ttlSeconds: 900 });
    const unsecured = new UnsecuredJWT({ username: 'mallory', roles: ['ADMIN'], perms: ['users:admin'], sid: 's', iat_ms: Date.now() })
      .setSubject(subject.id)
      .setJti('j')
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .encode();
    expect(unsecured.endsWith('.')).toBe(true);
    expect(await rejection(tokens.verify(unsecured))).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Invalid access token' });
  });

  it('accepts HS256 only, and only tokens typed, issued and addressed as ours', async () => {
    const tokens = createAccessTokens({ secret, ttlSeconds: 900 });
    const claims = { username: 'alice', roles: [], perms: [], sid: 's', iat_ms: Date.now() };
    const make = (alg: string, typ: string, iss = ACCESS_TOKEN_ISSUER, aud = ACCESS_TOKEN_AUDIENCE) =>
      new SignJWT(claims).setProtectedHeader({ alg, typ }).setSubject(subject.id).setJti('j').setIssuer(iss).setAudience(aud).setIssuedAt().setExpirationTime('10m').sign(secret);
    expect((await tokens.verify(await make('HS256', ACCESS_TOKEN_TYPE))).principal.name).toBe('alice');
    for (const token of [
      await make('HS512', ACCESS_TOKEN_TYPE),
      await make('HS256', 'JWT'),
      await make('HS256', ACCESS_TOKEN_TYPE, 'someone-else'),
      await make('HS256', ACCESS_TOKEN_TYPE, ACCESS_TOKEN_ISSUER, 'csda-internal'),
    ]) {
      expect(await rejection(tokens.verify(token))).toMatchObject({ code: 'AUTHENTICATION_ERROR' });
    }
  });

  it('refuses well-signed tokens with malformed claims, and garbage', async () => {
    const tokens = createAccessTokens({ secret, ttlSeconds: 900 });
    const noSession = await new SignJWT({ username: 'alice', roles: [], perms: [] })
      .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })
      .setSubject(subject.id)
      .setJti('j')
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(secret);
    expect(await rejection(tokens.verify(noSession))).toMatchObject({ code: 'AUTHENTICATION_ERROR' });
    expect(await rejection(tokens.verify('not.a.jwt'))).toMatchObject({ code: 'AUTHENTICATION_ERROR' });
  });
});

describe('refresh tokens', () => {
  it('are 256-bit url-safe strings, stored as their SHA-256', () => {
    const token = generateRefreshToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateRefreshToken()).not.toBe(token);
    expect(hashRefreshToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRefreshToken(token)).toBe(hashRefreshToken(token));
    expect(hashRefreshToken(token)).not.toContain(token);
  });
});
