import { randomBytes } from 'node:crypto';
import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startIdentityHarness, type IdentityHarness } from './support/identity-harness.ts';

/**
 * Refresh-token families: an absolute lifetime (REFRESH_FAMILY_MAX_AGE_S) and
 * a grace window (REFRESH_REUSE_GRACE_S) for one client refreshing twice at
 * once, while a replay outside it (or by another client) still revokes the
 * family. Real PostgreSQL and Redis; the identity clock is moved by the test.
 */
describe('identity: refresh-token families', () => {
  let h: IdentityHarness;
  let api: ReturnType<typeof client>;
  let clock = Date.now();
  const password = `session-${randomBytes(12).toString('base64url')}`;
  const ip = '198.51.100.44';
  const ua = (name: string) => ({ 'user-agent': `csda-test/${name}` });

  beforeAll(async () => {
    h = await startIdentityHarness('identity_sessions');
    api = client(await h.app({ REGISTRATION_ENABLED: 'true', REFRESH_FAMILY_MAX_AGE_S: '600', REFRESH_REUSE_GRACE_S: '5', REVOCATION_CACHE_MS: '0' }, { now: () => clock }));
    for (const username of ['tabs', 'replayed', 'stolen', 'aging']) {
      const res = await api('POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.test`, password } });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  const login = async (username: string) => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username, password }, ip, headers: ua('a') });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { access_token: string; refresh_token: string };
  };
  const refresh = (token: string, agent = 'a', from = ip) => api('POST', '/api/v1/auth/refresh', { body: { refresh_token: token }, ip: from, headers: ua(agent) });
  const me = async (token: string) => (await api('GET', '/api/v1/auth/me', { token })).status;
  const reuses = async () => (await query(h.db.url, `select 1 from identity.audit_log where action = 'refresh_token_reused'`)).length;

  it('two concurrent refreshes of one token by the same client both succeed and the family lives on', async () => {
    const first = await login('tabs');
    const [a, b] = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body!.refresh_token).not.toBe(b.body!.refresh_token);
    for (const pair of [a.body!, b.body!]) {
      expect(await me(pair.access_token)).toBe(200);
      const next = await refresh(pair.refresh_token);
      expect(next.status, JSON.stringify(next.body)).toBe(200);
      expect(await me(next.body!.access_token)).toBe(200);
    }
    const [family] = await query<{ revoked: string }>(h.db.url, `select count(revoked_at) revoked from identity.refresh_tokens t join identity.users u on u.id = t.user_id where u.username = 'tabs'`);
    expect(family!.revoked).toBe('0');
    expect(await reuses()).toBe(0);
  });

  it('a reuse by the same client outside the grace window still revokes the family', async () => {
    const first = await login('replayed');
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    clock += 6_000;
    const replay = await refresh(first.refresh_token);
    expect(replay.status).toBe(401);
    expect(replay.body!.error).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Invalid refresh token' });
    expect((await refresh(second.body!.refresh_token)).status).toBe(401);
    expect(await me(second.body!.access_token)).toBe(401);
    await waitFor(async () => (await reuses()) === 1);
  });

  it('a reuse inside the grace window by another client (user agent or address) revokes the family', async () => {
    for (const [agent, from] of [['b', ip], ['a', '203.0.113.45']] as const) {
      const first = await login('stolen');
      const second = await refresh(first.refresh_token);
      expect(second.status).toBe(200);
      expect((await refresh(first.refresh_token, agent, from)).status).toBe(401);
      expect((await refresh(second.body!.refresh_token)).status).toBe(401);
    }
    await waitFor(async () => (await reuses()) === 3);
  });

  it('ends a family REFRESH_FAMILY_MAX_AGE_S after its login, however often it is refreshed, without a reuse alarm', async () => {
    const startedAt = clock;
    let token = (await login('aging')).refresh_token;
    for (let i = 0; i < 2; i++) {
      clock += 250_000;
      const next = await refresh(token);
      expect(next.status, JSON.stringify(next.body)).toBe(200);
      token = next.body!.refresh_token;
    }
    // No token of the family outlives its start + 600 s, whatever REFRESH_TOKEN_TTL_S says.
    const [latest] = await query<{ expires_at: Date }>(
      h.db.url,
      `select max(expires_at) expires_at from identity.refresh_tokens t join identity.users u on u.id = t.user_id where u.username = 'aging'`,
    );
    expect(latest!.expires_at.getTime()).toBeLessThanOrEqual(startedAt + 600_000 + 1);
    clock += 101_000; // 601 s after the login
    const late = await refresh(token);
    expect(late.status).toBe(401);
    expect(await reuses()).toBe(3);
    // A new login is a new family.
    expect((await refresh((await login('aging')).refresh_token)).status).toBe(200);
  });
});
