import { createHash, randomBytes } from 'node:crypto';
import { createLogger, createRedis, type Redis } from '@csda/service-kit';
import { freePort, query, waitFor } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDump, client, startIdentityHarness, type Body, type IdentityHarness } from './support/identity-harness.ts';

/** Register, login, me, refresh rotation and reuse, logout, rate limits and the audit trail, on real PostgreSQL, Redis and NATS. */
describe('identity: auth flow', () => {
  let h: IdentityHarness;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  const password = `Pw-${randomBytes(12).toString('base64url')}`;
  const seen: string[] = []; // every token handed out, for the scans at the end

  beforeAll(async () => {
    h = await startIdentityHarness('identity');
    app = await h.app({ LOGIN_FREE_FAILURES: '3', LOGIN_BACKOFF_BASE_S: '600', LOGIN_MAX_FAILURES_PER_CLIENT: '6', LOGIN_RATE_WINDOW_S: '600', REGISTRATION_ENABLED: 'true' });
    api = client(app);
  });

  afterAll(async () => {
    await h?.close();
  });

  const register = (username: string, email = `${username}@example.test`, pw = password) => api('POST', '/api/v1/auth/register', { body: { username, email, password: pw } });
  const login = async (username: string, pw = password, ip?: string) => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username, password: pw }, ip });
    if (res.status === 200) seen.push(res.body!.access_token, res.body!.refresh_token);
    return res;
  };

  it('registers, logs in, answers me, rotates refresh tokens and revokes the family on reuse, then logs out', async () => {
    const created = await register('Alice', 'alice@example.test');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'Alice', email: 'alice@example.test', is_active: true, roles: ['USER'], last_login_at: null });
    expect(JSON.stringify(created.body)).not.toContain(password);

    const first = await login('alice'); // case-insensitive username
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: 'bearer', expires_in: 900 });

    const me = await api('GET', '/api/v1/auth/me', { token: first.body!.access_token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: created.body!.id, username: 'Alice', roles: ['USER'] });
    expect(me.body!.permissions).toContain('secrets:reveal');
    expect(me.body!.permissions).not.toContain('users:admin');
    expect(me.body!.last_login_at).not.toBeNull();

    const second = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.body!.refresh_token } });
    expect(second.status).toBe(200);
    seen.push(second.body!.access_token, second.body!.refresh_token);
    expect(second.body!.refresh_token).not.toBe(first.body!.refresh_token);
    const third = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: second.body!.refresh_token } });
    expect(third.status).toBe(200);
    seen.push(third.body!.access_token, third.body!.refresh_token);
    expect((await api('GET', '/api/v1/auth/me', { token: third.body!.access_token })).status).toBe(200);

    // The spent first token comes back from another client (within REFRESH_REUSE_GRACE_S only its own
    // spender may present it again, see identity-sessions.int.test.ts): the whole family dies, the newest token and its access token too.
    const reuse = await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.body!.refresh_token }, ip: '203.0.113.99' });
    expect(reuse.status).toBe(401);
    expect(reuse.body!.error).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Invalid refresh token' });
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: third.body!.refresh_token } })).status).toBe(401);
    const revokedAccess = await api('GET', '/api/v1/auth/me', { token: third.body!.access_token });
    expect(revokedAccess.status).toBe(401);
    expect(revokedAccess.body!.error.message).toBe('Access token revoked');

    // A new login is a new family; logout kills it (refresh and access).
    const fresh = await login('alice@EXAMPLE.test'); // by email, case-insensitive
    expect(fresh.status).toBe(200);
    expect((await api('GET', '/api/v1/auth/me', { token: fresh.body!.access_token })).status).toBe(200);
    const out = await api('POST', '/api/v1/auth/logout', { body: { refresh_token: fresh.body!.refresh_token } });
    expect(out.status).toBe(204);
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: fresh.body!.refresh_token } })).status).toBe(401);
    expect((await api('GET', '/api/v1/auth/me', { token: fresh.body!.access_token })).status).toBe(401);
    expect((await api('POST', '/api/v1/auth/logout', { body: { refresh_token: 'never-issued' } })).status).toBe(401);

    // Refresh tokens are stored as hashes only.
    const stored = JSON.stringify(await query(h.db.url, 'select * from identity.refresh_tokens'));
    for (const token of seen) expect(stored).not.toContain(token);
    const families = await query<{ family_id: string; n: string; revoked: string }>(
      h.db.url,
      'select family_id, count(*) n, count(revoked_at) revoked from identity.refresh_tokens group by family_id',
    );
    expect(families).toHaveLength(2);
    for (const f of families) expect(f.revoked).toBe(f.n);
  });

  it('validates registration: policy, format, uniqueness case-insensitively', async () => {
    const weak = await register('bob', 'bob@example.test', 'short');
    expect(weak.status).toBe(422);
    expect(weak.body!.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { password: 'must be at least 12 characters' } });
    expect((await register('b', 'b@example.test')).status).toBe(422);
    expect((await register('bob', 'not-an-email')).status).toBe(422);
    expect((await register('ALICE', 'other@example.test')).body!.error).toMatchObject({ code: 'CONFLICT', details: { field: 'username' } });
    expect((await register('alice2', 'ALICE@example.test')).body!.error).toMatchObject({ code: 'CONFLICT', details: { field: 'email' } });
  });

  it('refuses control characters (NUL included) in usernames, emails and logins with VALIDATION_ERROR', async () => {
    // The field named in details (NUL may already be refused at the HTTP edge, as `body.<field>`).
    const refused = (res: { status: number; body?: Body }, field: string) => {
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body!.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body!.error.details)).toEqual([expect.stringMatching(new RegExp(`^(body\\.)?${field}$`))]);
    };
    const bad = ['nul\u0000user', 'bell\u0007user', 'tab\tuser', 'line\nuser', 'esc\u001b[31muser', 'del\u007fuser', 'c1\u0085user'];
    for (const [i, text] of bad.entries()) {
      const ip = `198.51.100.${60 + i}`;
      refused(await api('POST', '/api/v1/auth/login', { body: { username: text, password }, ip }), 'username');
      refused(await api('POST', '/api/v1/auth/login', { body: { username: `${text}@example.test`, password }, ip }), 'username');
      refused(await register(text, `ok${i}@example.test`), 'username');
      refused(await register(`okuser${i}`, `${text}@example.test`), 'email');
    }
    // Nothing reached the database or the audit trail.
    expect(await query(h.db.url, `select 1 from identity.users where username like 'okuser%' or email like 'ok_@example.test'`)).toHaveLength(0);
  });

  it('answers unknown user, wrong password and inactive account with one uniform error', async () => {
    await register('carol');
    await query(h.db.url, `update identity.users set is_active = false where username = 'carol'`);
    await register('dave');
    const bodies = [];
    for (const [username, pw, ip] of [
      ['nobody-here', password, '198.51.100.21'],
      ['dave', `${password}-wrong`, '198.51.100.22'],
      ['carol', password, '198.51.100.23'],
    ] as const) {
      const res = await login(username, pw, ip);
      expect(res.status).toBe(401);
      const { request_id: _ignored, ...rest } = res.body!.error;
      bodies.push(rest);
    }
    expect(bodies[0]).toEqual({ code: 'AUTHENTICATION_ERROR', message: 'Invalid credentials', details: {} });
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
  });

  it('backs off a client after its failures on an account, the same for unknown accounts, without stopping the owner elsewhere', async () => {
    await register('erin');
    const attacker = '203.0.113.1';
    for (let i = 0; i < 4; i++) expect((await login('erin', `wrong-${i}-password`, attacker)).status).toBe(401);
    // Past the free failures: even the right password from that address waits.
    const limited = await login('erin', password, attacker);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(590);
    expect(limited.body!.error).toMatchObject({ code: 'RATE_LIMITED', message: 'Too many requests', details: { retry_after_s: limited.headers['retry-after'] } });
    expect((await login('erin', password, '203.0.113.2')).status).toBe(200);

    // (Another address: this one is near its per-client ceiling of 6 failures.)
    for (let i = 0; i < 4; i++) expect((await login('ghost-user', `wrong-${i}-password`, '203.0.113.3')).status).toBe(401);
    const ghost = await login('GHOST-user', password, '203.0.113.3');
    expect(ghost.status).toBe(429);
    const strip = (b: Record<string, unknown>) => ({ ...b, request_id: undefined });
    expect(strip(ghost.body!.error)).toEqual(strip(limited.body!.error));
  });

  it('counts a known account once, named by username or email, and a good login resets that client’s failures', async () => {
    await register('hank', 'hank@example.test');
    const ip = '203.0.113.51';
    expect((await login('hank@example.test', 'wrong-password-1', ip)).status).toBe(401);
    expect((await login('HANK@example.test', 'wrong-password-2', ip)).status).toBe(401);
    expect((await login('hank', 'wrong-password-3', ip)).status).toBe(401);
    expect((await login('hank', password, ip)).status).toBe(200); // resets the one counter
    for (let i = 0; i < 4; i++) expect((await login(i % 2 ? 'hank' : 'hank@example.test', `wrong-${i}-password`, ip)).status).toBe(401);
    // Backing off under either name.
    expect((await login('hank', password, ip)).status).toBe(429);
    expect((await login('hank@example.test', password, ip)).status).toBe(429);
  });

  it('limits failures per client address across accounts (spraying)', async () => {
    const ip = '192.0.2.77';
    for (let i = 0; i < 6; i++) expect((await login(`sprayed-${i}`, 'whatever-password', ip)).status).toBe(401);
    const res = await login('sprayed-7', 'whatever-password', ip);
    expect(res.status).toBe(429);
    expect(res.body!.error.code).toBe('RATE_LIMITED');
    expect(res.headers['retry-after']).toBeDefined();
    expect((await login('sprayed-8', 'whatever-password', '192.0.2.78')).status).toBe(401);
  });

  it('fails closed with EXTERNAL_SERVICE_ERROR when Redis is down', async () => {
    const dead: Redis = createRedis(`redis://127.0.0.1:${await freePort()}`, `${h.namespace}:`, createLogger({ service: 'test', level: 'silent' })); // nothing listens there, on purpose
    try {
      const broken = client(await h.app({}, { redis: dead }));
      const res = await broken('POST', '/api/v1/auth/login', { body: { username: 'dave', password } });
      expect(res.status).toBe(503);
      expect(res.body!.error).toMatchObject({ code: 'EXTERNAL_SERVICE_ERROR', details: { service: 'redis' } });
      const ok = await login('dave', password, '198.51.100.90');
      const me = await broken('GET', '/api/v1/auth/me', { token: ok.body!.access_token });
      expect(me.status).toBe(503);
    } finally {
      dead.disconnect();
    }
  });

  it('refuses registration when it is disabled', async () => {
    const closed = client(await h.app({ REGISTRATION_ENABLED: 'false' }));
    const res = await closed('POST', '/api/v1/auth/register', { body: { username: 'frank', email: 'frank@example.test', password } });
    expect(res.status).toBe(403);
    expect(res.body!.error).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: 'Registration is disabled' });
  });

  it('records logins, failures, reuse, logout and registration in identity.audit_log, without credentials', async () => {
    const rows = async (action: string) => query<{ actor: string; payload: Body }>(h.db.url, 'select actor, payload from identity.audit_log where action = $1', [action]);
    await waitFor(async () => (await rows('logout')).length >= 1 && (await rows('refresh_token_reused')).length >= 1 && (await rows('login_failed')).length >= 10);
    const alice = (await query<{ id: string }>(h.db.url, `select id from identity.users where username = 'Alice'`))[0]!.id;
    expect((await rows('user_registered')).map((r) => r.actor)).toContain(alice);
    const succeeded = await rows('login_succeeded');
    expect(succeeded.some((r) => r.actor === alice && r.payload.ip === '198.51.100.1' && r.payload.requestId)).toBe(true);
    const failed = await rows('login_failed');
    expect(failed.every((r) => r.actor === 'anonymous' && r.payload.outcome === 'failure')).toBe(true);
    // Known accounts by their username; unknown logins only by a hash of the normalized text.
    expect(failed.map((r) => r.payload.details.username)).toEqual(expect.arrayContaining(['dave', 'carol', 'erin', 'hank']));
    const hash = (login: string) => createHash('sha256').update(login.trim().toLowerCase()).digest('hex').slice(0, 16);
    const unknown = failed.filter((r) => r.payload.details.username_hash);
    expect(unknown.map((r) => r.payload.details.username_hash)).toEqual(expect.arrayContaining([hash('nobody-here'), hash('GHOST-user'), hash('sprayed-7')]));
    for (const r of unknown) {
      expect(r.payload.details.username).toBeUndefined();
      expect(r.payload.details.username_hash).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(failed.find((r) => r.payload.details.username === 'erin' && r.payload.details.reason === 'rate_limited')).toBeDefined();
    expect(failed.map((r) => r.payload.details.reason)).toEqual(expect.arrayContaining(['unknown_user', 'bad_password', 'inactive', 'rate_limited']));
    expect((await rows('refresh_token_reused'))[0]!.actor).toBe(alice);

    const dump = await auditDump(h.db);
    for (const typed of ['nobody-here', 'ghost-user', 'sprayed-']) expect(dump.toLowerCase()).not.toContain(typed);
    expect(dump).not.toContain(password);
    for (const token of seen) expect(dump).not.toContain(token);
    expect(dump).not.toContain('$argon2id$');
  });

  it('never writes a password or token to the logs', async () => {
    const logs = h.logs();
    expect(logs).toContain('request completed');
    expect(logs).not.toContain(password);
    for (const token of seen) expect(logs).not.toContain(token);
    expect(logs).not.toContain('$argon2id$');
  });
});
