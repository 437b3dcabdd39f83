import { connectRedis, createLogger, createRedis, type Redis } from '@csda/service-kit';
import { testNamespace } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginThrottle, type LoginAccount, type LoginThrottleOptions } from '../src/identity/auth/login-throttle.ts';
import { createRevocation } from '../src/identity/auth/revocation.ts';
import { redisUrl } from './support/identity-harness.ts';

/** The deny list and login counters against real Redis, as two gateway instances would share them. */
describe('revocation and login counters in Redis', () => {
  const prefix = `${testNamespace()}:`;
  let redis: Redis;

  beforeAll(async () => {
    redis = createRedis(redisUrl(), prefix, createLogger({ service: 'test', level: 'silent' }));
    await connectRedis(redis);
  });

  afterAll(async () => {
    const keys = await redis.keys('*').catch(() => []);
    // keys() returns prefixed names; del() would prefix again.
    for (const key of keys.filter((k) => k.startsWith(prefix))) await redis.del(key.slice(prefix.length));
    redis.disconnect();
  });

  it('kills tokens issued before a user revocation, on another instance once its cache expires', async () => {
    let now = 1_000_000;
    const a = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 2_000, now: () => now });
    const b = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 2_000, now: () => now });
    const token = { userId: 'u1', sessionId: 's1', issuedAtMs: now - 10 };
    expect(await b.isRevoked(token)).toBe(false); // b caches "not revoked"
    await a.revokeUser('u1', now);
    expect(await a.isRevoked(token)).toBe(true); // at once where it happened
    expect(await b.isRevoked(token)).toBe(false); // b still trusts its cache…
    now += 2_001;
    expect(await b.isRevoked(token)).toBe(true); // …for no longer than cacheMs
    expect(await b.isRevoked({ ...token, issuedAtMs: now })).toBe(false); // a later login is fine
    const ttl = await redis.pttl('deny:user:u1');
    expect(ttl).toBeGreaterThan(900_000);
    expect(ttl).toBeLessThanOrEqual(960_000);
  });

  it('never moves a user revocation back in time', async () => {
    const r = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 0 });
    await r.revokeUser('u2', 5_000);
    await r.revokeUser('u2', 4_000);
    expect(await redis.get('deny:user:u2')).toBe('5000');
    expect(await r.isRevoked({ userId: 'u2', sessionId: 'x', issuedAtMs: 4_500 })).toBe(true);
  });

  it('never moves a user revocation back in time when two instances write at once', async () => {
    const a = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 0 });
    const b = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 0 });
    for (let i = 0; i < 5; i++) {
      const key = `u-race-${i}`;
      // Both read before either writes under a GET-then-SET: the older time would win.
      await Promise.all([a.revokeUser(key, 9_000 + i), b.revokeUser(key, 8_000 + i)]);
      expect(await redis.get(`deny:user:${key}`)).toBe(String(9_000 + i));
      expect(await b.isRevoked({ userId: key, sessionId: 'x', issuedAtMs: 8_500 })).toBe(true);
      const ttl = await redis.pttl(`deny:user:${key}`);
      expect(ttl).toBeGreaterThan(900_000);
      expect(ttl).toBeLessThanOrEqual(960_000);
    }
  });

  it('keeps the later time and renews the expiry when an earlier revocation arrives late', async () => {
    const r = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 0 });
    await redis.set('deny:user:u-late', '7000', 'PX', 1_000);
    await r.revokeUser('u-late', 6_000);
    expect(await redis.get('deny:user:u-late')).toBe('7000');
    expect(await redis.pttl('deny:user:u-late')).toBeGreaterThan(900_000);
  });

  it('kills every token of a revoked session, whenever issued', async () => {
    const r = createRevocation(redis, { accessTokenTtlSeconds: 900, cacheMs: 0 });
    await r.revokeSessions(['s-a', 's-b']);
    expect(await r.isRevoked({ userId: 'u3', sessionId: 's-a', issuedAtMs: Date.now() + 60_000 })).toBe(true);
    expect(await r.isRevoked({ userId: 'u3', sessionId: 's-c', issuedAtMs: Date.now() })).toBe(false);
  });

  const throttle = (over: Partial<LoginThrottleOptions> = {}) =>
    createLoginThrottle(redis, {
      freeFailures: 2,
      backoffBaseMs: 60_000,
      backoffMaxMs: 600_000,
      accountCeiling: 100,
      maxFailuresPerClient: 100,
      windowMs: 60_000,
      knownClientTtlMs: 60_000,
      ceilingDelayMs: 0,
      ...over,
    });
  const attempt = async (t: ReturnType<typeof throttle>, account: LoginAccount, ip: string) => {
    await t.check(account, ip);
    await t.failed(account, ip);
  };

  it('counts failures per (account, client) keyed by hashes, never names or addresses', async () => {
    const t = throttle();
    await attempt(t, { login: 'Zed@Example.test' }, '10.9.9.9');
    await attempt(t, { login: 'zed@example.test ' }, '10.9.9.9');
    await attempt(t, { login: 'ZED@example.test' }, '10.9.9.9'); // third: over the two free ones, sets a 60 s wait
    await expect(t.check({ login: 'zed@example.test' }, '10.9.9.9')).rejects.toMatchObject({ code: 'RATE_LIMITED', details: { retry_after_s: '60' } });
    await expect(t.check({ login: 'zed@example.test' }, '10.9.9.8')).resolves.toEqual({ slowMs: 0 });
    const keys = (await redis.keys(`${prefix}lt:*`)).join(' ');
    expect(keys).not.toMatch(/zed|10\.9/i);
  });

  it('keeps a known account’s counter apart from any typed login, even one spelling its id, and resets it on success', async () => {
    const t = throttle({ freeFailures: 0 });
    const userId = '6f1c2a1e-0000-4000-8000-00000000abcd';
    await attempt(t, { userId }, '10.9.9.10');
    await expect(t.check({ login: userId }, '10.9.9.10')).resolves.toEqual({ slowMs: 0 });
    await expect(t.check({ userId }, '10.9.9.10')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect((await redis.keys(`${prefix}lt:*`)).join(' ')).not.toContain(userId);
    const other = throttle({ freeFailures: 1 });
    await other.check({ userId: 'u-reset' }, '10.9.9.11');
    await other.succeeded({ userId: 'u-reset' }, '10.9.9.11');
    await attempt(other, { userId: 'u-reset' }, '10.9.9.11');
    await expect(other.check({ userId: 'u-reset' }, '10.9.9.11')).resolves.toEqual({ slowMs: 0 });
  });
});
