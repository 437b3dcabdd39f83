import { randomBytes } from 'node:crypto';
import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startIdentityHarness, type IdentityHarness } from './support/identity-harness.ts';

/**
 * TRUST_PROXY as a CIDR list (the ingress): the client address that the
 * audit trail records and the login throttle keys on comes from
 * X-Forwarded-For only through a trusted hop; an untrusted peer's header is
 * ignored, so no client can frame another address or dodge its own back-off.
 */
describe('identity: client addresses through trusted proxies only', () => {
  let h: IdentityHarness;
  let api: ReturnType<typeof client>;
  const password = `proxy-${randomBytes(12).toString('base64url')}`;
  const ingress = '10.42.0.7'; // inside TRUST_PROXY
  const stranger = '198.51.100.99'; // outside it

  beforeAll(async () => {
    h = await startIdentityHarness('identity_proxy');
    api = client(await h.app({ TRUST_PROXY: '10.42.0.0/16,fd00:42::/64', REGISTRATION_ENABLED: 'true', LOGIN_FREE_FAILURES: '1', LOGIN_BACKOFF_BASE_S: '600' }));
    for (const username of ['alice', 'bob', 'carol']) {
      expect((await api('POST', '/api/v1/auth/register', { body: { username, email: `${username}@example.test`, password } })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  const login = (username: string, pw: string, peer: string, xff?: string) =>
    api('POST', '/api/v1/auth/login', { body: { username, password: pw }, ip: peer, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
  const auditedIps = async (username: string, action: string) => {
    const rows = await query<{ ip: string }>(
      h.db.url,
      `select payload->>'ip' ip from identity.audit_log where action = $1 and resource_id = (select id::text from identity.users where username = $2) order by id`,
      [action, username],
    );
    return rows.map((r) => r.ip);
  };

  it('records the forwarded client address through a trusted hop, and the peer itself otherwise', async () => {
    expect((await login('alice', password, ingress, '203.0.113.7')).status).toBe(200);
    expect((await login('alice', password, stranger, '203.0.113.8')).status).toBe(200);
    // A client forging the header in front of the ingress: only the hop the ingress saw counts.
    expect((await login('alice', password, ingress, '192.0.2.66, 203.0.113.9')).status).toBe(200);
    expect((await login('alice', password, 'fd00:42::1', '2001:db8::5')).status).toBe(200);
    await waitFor(async () => (await auditedIps('alice', 'login_succeeded')).length === 4);
    expect(await auditedIps('alice', 'login_succeeded')).toEqual(['203.0.113.7', stranger, '203.0.113.9', '2001:db8::5']);
  });

  it('keys the login throttle on the forwarded address through a trusted hop only', async () => {
    // bob's attacker behind the ingress backs off...
    expect((await login('bob', 'wrong-password-1', ingress, '203.0.113.20')).status).toBe(401);
    expect((await login('bob', 'wrong-password-2', ingress, '203.0.113.20')).status).toBe(401);
    expect((await login('bob', password, ingress, '203.0.113.20')).status).toBe(429);
    // ...and cannot dodge it by connecting directly with a fresh header: the stranger is its own client,
    expect((await login('bob', 'wrong-password-3', stranger, '203.0.113.21')).status).toBe(401);
    expect((await login('bob', 'wrong-password-4', stranger, '203.0.113.22')).status).toBe(401);
    expect((await login('bob', password, stranger, '203.0.113.23')).status).toBe(429);
    // while the owner, forwarded by the same ingress from elsewhere, is not affected.
    expect((await login('bob', password, ingress, '203.0.113.30')).status).toBe(200);
  });

  it('never lets an untrusted peer frame another address', async () => {
    // A stranger claiming to be carol's usual address fails twice: that address is not throttled.
    expect((await login('carol', 'wrong-password-1', stranger, '203.0.113.40')).status).toBe(401);
    expect((await login('carol', 'wrong-password-2', stranger, '203.0.113.40')).status).toBe(401);
    expect((await login('carol', password, ingress, '203.0.113.40')).status).toBe(200);
    await waitFor(async () => (await auditedIps('carol', 'login_failed')).length === 2);
    expect(await auditedIps('carol', 'login_failed')).toEqual([stranger, stranger]);
  });

  it('ignores X-Forwarded-For entirely with the default TRUST_PROXY=false', async () => {
    const direct = client(await h.app({}));
    const res = await direct('POST', '/api/v1/auth/login', { body: { username: 'carol', password }, ip: ingress, headers: { 'x-forwarded-for': '203.0.113.50' } });
    expect(res.status).toBe(200);
    await waitFor(async () => (await auditedIps('carol', 'login_succeeded')).length === 2);
    expect((await auditedIps('carol', 'login_succeeded')).at(-1)).toBe(ingress);
  });
});
