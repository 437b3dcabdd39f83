import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startIdentityHarness, type Body, type IdentityHarness } from './support/identity-harness.ts';

/**
 * A lock-out attempt: login throttling counts failures per (account, client)
 * with exponential back-off (login-throttle.ts, OWASP device-cookie scheme
 * with known-good addresses), on real Redis. The identity clock is moved by
 * the test, so back-off steps take no wall time.
 */
describe('identity: login throttling cannot lock the owner out', () => {
  let h: IdentityHarness;
  let clock = Date.now();
  const now = () => clock;
  const password = `owner-${randomBytes(12).toString('base64url')}`;

  beforeAll(async () => {
    h = await startIdentityHarness('identity_throttle');
  });
  afterAll(async () => {
    await h?.close();
  });

  const setup = async (overrides: Record<string, string>) => {
    const app: FastifyInstance = await h.app({ REGISTRATION_ENABLED: 'true', LOGIN_FREE_FAILURES: '2', LOGIN_BACKOFF_BASE_S: '1', LOGIN_BACKOFF_MAX_S: '60', ...overrides }, { now });
    const api = client(app);
    const login = (username: string, pw: string, ip: string) => api('POST', '/api/v1/auth/login', { body: { username, password: pw }, ip });
    const register = async (username: string) => {
      const res = await api('POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.test`, password } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    };
    return { login, register };
  };
  const limited = (res: { status: number; headers: Record<string, unknown>; body?: Body }) => {
    expect(res.status, JSON.stringify(res.body)).toBe(429);
    expect(res.body!.error).toMatchObject({ code: 'RATE_LIMITED', details: { retry_after_s: res.headers['retry-after'] } });
    return Number(res.headers['retry-after']);
  };

  it('six bad logins from one address: that address backs off with a growing Retry-After, the owner logs in from another', async () => {
    const { login, register } = await setup({});
    await register('victim');
    const attacker = '203.0.113.66';
    const waits: number[] = [];
    let failures = 0;
    while (failures < 6) {
      const res = await login('victim', `guess-${failures}-password`, attacker);
      if (res.status === 401) {
        failures++;
        continue;
      }
      const wait = limited(res);
      waits.push(wait);
      // The right password from the attacker's address waits too: it is that pair that backs off.
      limited(await login('victim', password, attacker));
      clock += wait * 1000;
    }
    expect(waits).toEqual([1, 2, 4]);
    expect(limited(await login('victim', 'guess-7-password', attacker))).toBe(8);
    // The owner, elsewhere, is not affected.
    expect((await login('victim', password, '198.51.100.10')).status).toBe(200);
    expect((await login('VICTIM@example.test', password, '198.51.100.11')).status).toBe(200);
  });

  it('a good login resets the (account, client) failures', async () => {
    const { login, register } = await setup({});
    await register('resetme');
    const ip = '203.0.113.70';
    expect((await login('resetme', 'wrong-password-1', ip)).status).toBe(401);
    expect((await login('resetme', 'wrong-password-2', ip)).status).toBe(401);
    expect((await login('resetme', password, ip)).status).toBe(200);
    // Two free failures again, then the back-off starts from its first step.
    expect((await login('resetme', 'wrong-password-3', ip)).status).toBe(401);
    expect((await login('resetme', 'wrong-password-4', ip)).status).toBe(401);
    expect((await login('resetme', 'wrong-password-5', ip)).status).toBe(401);
    expect(limited(await login('resetme', password, ip))).toBe(1);
  });

  it('throttles a burst of parallel guesses like a sequence', async () => {
    const { login, register } = await setup({});
    await register('burst');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => login('burst', `parallel-${i}-guess`, '203.0.113.80')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
  });

  it('over the per-account ceiling (a distributed guess) refuses unknown clients and only slows a known-good one', async () => {
    const { login, register } = await setup({ LOGIN_ACCOUNT_FAILURE_CEILING: '5', LOGIN_CEILING_DELAY_MS: '400' });
    await register('popular');
    const home = '198.51.100.33';
    expect((await login('popular', password, home)).status).toBe(200); // home becomes known-good
    for (let i = 0; i < 5; i++) expect((await login('popular', `botnet-${i}-guess`, `203.0.113.${100 + i}`)).status).toBe(401);
    // A new address, even with the right password, is refused while the account is under attack.
    limited(await login('popular', password, '203.0.113.200'));
    limited(await login('popular', 'botnet-9-guess', '203.0.113.201'));
    // Home still gets in, slowed.
    const started = performance.now();
    expect((await login('popular', password, home)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect((await login('popular', 'owner-typo-password', home)).status).toBe(401);
  });

  it('keys IPv6 clients by their /64', async () => {
    const { login, register } = await setup({});
    await register('sixer');
    for (const ip of ['2001:db8:7:1::1', '2001:db8:7:1::2', '2001:db8:7:1:ffff:ffff:ffff:3']) expect((await login('sixer', 'wrong-v6-password', ip)).status).toBe(401);
    // Another address of the same /64 is the same client; another /64 is not.
    limited(await login('sixer', password, '2001:db8:7:1:abcd::4'));
    expect((await login('sixer', password, '2001:db8:7:2::1')).status).toBe(200);
    // An IPv4-mapped address is its IPv4 client.
    for (let i = 0; i < 3; i++) expect((await login('sixer', 'wrong-v4-password', '192.0.2.9')).status).toBe(401);
    limited(await login('sixer', password, '::ffff:192.0.2.9'));
  });

  it('over the per-client ceiling (spraying) refuses that client, except for an account it is known-good for', async () => {
    const { login, register } = await setup({ LOGIN_MAX_FAILURES_PER_CLIENT: '4' });
    await register('office');
    const shared = '203.0.113.150';
    expect((await login('office', password, shared)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await login(`spray-${i}`, 'spray-password', shared)).status).toBe(401);
    limited(await login('spray-9', 'spray-password', shared));
    expect((await login('office', password, shared)).status).toBe(200);
  });

  it('keeps no login name or address in Redis keys', async () => {
    const keys = (await h.redis.keys(`${h.namespace}:*`)).join(' ');
    expect(keys).toContain('lt:pair:');
    for (const text of ['victim', 'popular', 'spray', '203.0.113', '2001:db8', 'example.test']) expect(keys).not.toContain(text);
  });
});
