import { randomBytes } from 'node:crypto';
import { PERMISSIONS, SEEDED_ROLES } from '@csda/auth';
import { query, runCommand, waitFor } from '@csda/testing';
import { hash, verify } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDump, client, startIdentityHarness, type Body, type IdentityHarness } from './support/identity-harness.ts';

/** The first admin (bootstrap command), user and role administration, and the audit API. */
describe('identity: administration', () => {
  let h: IdentityHarness;
  let api: ReturnType<typeof client>;
  let adminPassword = '';
  const userPassword = `user-${randomBytes(12).toString('base64url')}`;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const startedAt = new Date();

  beforeAll(async () => {
    h = await startIdentityHarness('identity_admin');
    api = client(await h.app({ REVOCATION_CACHE_MS: '0' }));
  });

  afterAll(async () => {
    await h?.close();
  });

  const login = async (username: string, password: string) => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username, password }, ip: `198.51.100.${Object.keys(tokens).length + 10}` });
    return res;
  };

  it('bootstraps one admin with a generated password shown once, idempotently', async () => {
    const first = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: '' });
    expect(first.code, first.stderr).toBe(0);
    const match = /^Admin user created: admin\nInitial password \(shown once\): ([A-Za-z0-9_-]+)\n/m.exec(first.stdout);
    expect(match, first.stdout).not.toBeNull();
    adminPassword = match![1]!;
    expect(adminPassword.length).toBeGreaterThanOrEqual(24);
    expect(first.stdout.split(adminPassword)).toHaveLength(2); // exactly once, and in no log line
    for (const line of first.stdout.split('\n').filter((l) => l.startsWith('{'))) expect(line).not.toContain(adminPassword);
    expect(first.stderr).not.toContain(adminPassword);

    // A second run (even with ADMIN_INITIAL_PASSWORD) leaves the admin alone.
    const second = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: 'another-password-for-admin' });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('Admin user already exists: an active user holds ADMIN (left unchanged)');
    expect(second.stdout).not.toContain('Initial password');

    const admins = await query<{ username: string; email: string; password_hash: string; roles: string[] }>(
      h.db.url,
      `select u.username, u.email, u.password_hash, array_agg(r.role_name) roles from identity.users u join identity.user_roles r on r.user_id = u.id group by u.id`,
    );
    expect(admins).toHaveLength(1);
    expect(admins[0]).toMatchObject({ username: 'admin', email: 'admin@csda.local', roles: ['ADMIN'] });
    expect(JSON.stringify(admins)).not.toContain(adminPassword);
    expect(await verify(admins[0]!.password_hash, adminPassword)).toBe(true);

    const res = await login('admin', adminPassword);
    expect(res.status).toBe(200);
    tokens.admin = res.body!.access_token;
    expect((await login('admin', 'another-password-for-admin')).status).toBe(401);
  });

  it('seeds ADMIN and USER with the permissions of @csda/auth', async () => {
    const res = await api('GET', '/api/v1/roles', { token: tokens.admin });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ total: 2, limit: 50, offset: 0 });
    const byName = Object.fromEntries(res.body!.items.map((r: Body) => [r.name, r]));
    for (const role of SEEDED_ROLES) {
      expect(byName[role.name]).toMatchObject({ description: role.description });
      expect([...byName[role.name].permissions].sort()).toEqual([...role.permissions].sort());
    }
  });

  it('lets an admin create, list, read, update and assign roles; a USER gets 403', async () => {
    for (const name of ['alice', 'bob']) {
      const created = await api('POST', '/api/v1/users', { token: tokens.admin, body: { username: name, email: `${name}@example.test`, password: userPassword } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body).toMatchObject({ username: name, roles: ['USER'], is_active: true });
      ids[name] = created.body!.id;
      tokens[name] = (await login(name, userPassword)).body!.access_token;
    }
    const list = await api('GET', '/api/v1/users?limit=2&offset=1', { token: tokens.admin });
    expect(list.body).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(list.body!.items.map((u: Body) => u.username)).toEqual(['alice', 'bob']);
    expect((await api('GET', '/api/v1/users?limit=201', { token: tokens.admin })).status).toBe(422);

    // Users may read themselves, nobody else, and administer nothing.
    expect((await api('GET', `/api/v1/users/${ids.alice}`, { token: tokens.alice })).body).toMatchObject({ username: 'alice' });
    const forbidden = [
      await api('GET', `/api/v1/users/${ids.bob}`, { token: tokens.alice }),
      await api('GET', '/api/v1/users', { token: tokens.alice }),
      await api('POST', '/api/v1/users', { token: tokens.alice, body: { username: 'eve', email: 'eve@example.test', password: userPassword } }),
      await api('PATCH', `/api/v1/users/${ids.alice}`, { token: tokens.alice, body: { email: 'x@example.test' } }),
      await api('PUT', `/api/v1/users/${ids.alice}/roles`, { token: tokens.alice, body: { roles: ['ADMIN'] } }),
      await api('DELETE', `/api/v1/users/${ids.bob}`, { token: tokens.alice }),
      await api('GET', '/api/v1/roles', { token: tokens.alice }),
      await api('GET', '/api/v1/audit', { token: tokens.alice }),
    ];
    for (const res of forbidden) {
      expect(res.status).toBe(403);
      expect(res.body!.error.code).toBe('AUTHORIZATION_ERROR');
    }

    const patched = await api('PATCH', `/api/v1/users/${ids.bob}`, { token: tokens.admin, body: { email: 'robert@example.test' } });
    expect(patched.body).toMatchObject({ email: 'robert@example.test' });
    expect((await api('PATCH', `/api/v1/users/${ids.bob}`, { token: tokens.admin, body: { email: 'ALICE@example.test' } })).status).toBe(409);
    expect((await api('PATCH', `/api/v1/users/${ids.bob}`, { token: tokens.admin, body: {} })).status).toBe(422);
    expect((await api('PUT', `/api/v1/users/${ids.bob}/roles`, { token: tokens.admin, body: { roles: ['NOPE'] } })).body!.error).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect((await api('GET', '/api/v1/users/00000000-0000-4000-8000-000000000000', { token: tokens.admin })).body!.error).toMatchObject({ code: 'NOT_FOUND', details: { resource: 'user' } });
  });

  it('revokes existing tokens on a role change; the new roles apply from the next login', async () => {
    const before = tokens.bob!;
    const changed = await api('PUT', `/api/v1/users/${ids.bob}/roles`, { token: tokens.admin, body: { roles: ['ADMIN', 'USER'] } });
    expect(changed.body).toMatchObject({ roles: ['ADMIN', 'USER'] });
    expect((await api('GET', '/api/v1/auth/me', { token: before })).status).toBe(401);
    const again = await login('bob', userPassword);
    expect(again.status).toBe(200);
    tokens.bob = again.body!.access_token;
    expect((await api('GET', '/api/v1/users', { token: tokens.bob })).status).toBe(200);
  });

  it('revokes on deactivation and deletion, and never removes the last active admin', async () => {
    const deactivated = await api('PATCH', `/api/v1/users/${ids.alice}`, { token: tokens.admin, body: { is_active: false } });
    expect(deactivated.body).toMatchObject({ is_active: false });
    expect((await api('GET', '/api/v1/auth/me', { token: tokens.alice })).status).toBe(401);
    expect((await login('alice', userPassword)).body!.error).toMatchObject({ code: 'AUTHENTICATION_ERROR', message: 'Invalid credentials' });

    expect((await api('DELETE', `/api/v1/users/${ids.bob}`, { token: tokens.admin })).status).toBe(204);
    expect((await api('GET', `/api/v1/users/${ids.bob}`, { token: tokens.admin })).status).toBe(404);
    expect((await api('GET', '/api/v1/users', { token: tokens.bob })).status).toBe(401);

    const admin = (await api('GET', '/api/v1/auth/me', { token: tokens.admin })).body!;
    const last = await api('PUT', `/api/v1/users/${admin.id}/roles`, { token: tokens.admin, body: { roles: ['USER'] } });
    expect(last.status).toBe(409);
    expect(last.body!.error.code).toBe('CONFLICT');
    expect((await api('DELETE', `/api/v1/users/${admin.id}`, { token: tokens.admin })).status).toBe(409);
    expect((await api('PATCH', `/api/v1/users/${admin.id}`, { token: tokens.admin, body: { is_active: false } })).status).toBe(409);
  });

  it('serves the audit trail filtered by actor, action, resource and time, newest first, paginated', async () => {
    const admin = (await api('GET', '/api/v1/auth/me', { token: tokens.admin })).body!;
    const audit = (qs: string) => api('GET', `/api/v1/audit?${qs}`, { token: tokens.admin });
    await waitFor(async () => (await audit('action=user_deleted')).body!.total === 1 && (await audit('action=login_failed')).body!.total >= 2);

    const failed = await audit('action=login_failed&actor=anonymous');
    expect(failed.status).toBe(200);
    expect(failed.body!.items.every((e: Body) => e.action === 'login_failed' && e.actor === 'anonymous' && e.outcome === 'failure')).toBe(true);
    expect(failed.body!.items.map((e: Body) => e.details.username)).toEqual(expect.arrayContaining(['admin', 'alice']));

    const bySubject = await audit(`resource_type=user&resource_id=${ids.bob}`);
    const actions = bySubject.body!.items.map((e: Body) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user_created', 'user_updated', 'user_roles_changed', 'user_deleted', 'login_succeeded']));
    const times = bySubject.body!.items.map((e: Body) => Date.parse(e.occurred_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const byAdmin = await audit(`actor=${admin.id}&action=user_roles_changed`);
    expect(byAdmin.body!.items[0]).toMatchObject({ actor: admin.id, actor_name: 'admin', service: 'gateway', resource_type: 'user', details: { roles: 'ADMIN,USER', previous: 'USER' } });
    expect(byAdmin.body!.items[0].request_id).toBeTruthy();

    const page = await audit('limit=2&offset=1');
    expect(page.body).toMatchObject({ limit: 2, offset: 1 });
    expect(page.body!.items).toHaveLength(2);
    expect(page.body!.total).toBeGreaterThan(5);

    expect((await audit(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body!.total).toBe(0);
    const window = await audit(`since=${encodeURIComponent(startedAt.toISOString())}&until=${encodeURIComponent(new Date(Date.now() + 1_000).toISOString())}&action=user_created`);
    expect(window.body!.total).toBe(3); // admin (bootstrap), alice, bob
    expect(window.body!.items.find((e: Body) => e.actor === 'service:gateway')).toMatchObject({ details: { via: 'bootstrap', username: 'admin' } });
    expect((await audit('since=yesterday')).status).toBe(422);
    expect((await audit('limit=500')).status).toBe(422);
  });

  const activeAdmins = async () =>
    Number(
      (await query<{ n: string }>(h.db.url, `select count(*) n from identity.users u join identity.user_roles r on r.user_id = u.id where r.role_name = 'ADMIN' and u.is_active`))[0]!.n,
    );

  it('serializes changes that could remove the last admin: of two racing, exactly one wins', async () => {
    // An operator holding every permission without the ADMIN role (so it may grant and revoke ADMIN,
    // see grants.ts, yet is no admin the last-admin check counts): its token survives whatever happens to the two admins.
    await query(h.db.url, `insert into identity.roles (name, description, permissions) values ('OPERATOR', 'Every permission, not ADMIN', $1)`, [[...PERMISSIONS]]);
    const ops = await api('POST', '/api/v1/users', { token: tokens.admin, body: { username: 'ops', email: 'ops@example.test', password: userPassword, roles: ['OPERATOR'] } });
    expect(ops.status, JSON.stringify(ops.body)).toBe(201);
    tokens.ops = (await login('ops', userPassword)).body!.access_token;
    const as = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) => api(method, url, { token: tokens.ops, body });
    ids.admin = (await api('GET', '/api/v1/auth/me', { token: tokens.admin })).body!.id;
    const carol = await as('POST', '/api/v1/users', { username: 'carol', email: 'carol@example.test', password: userPassword, roles: ['ADMIN'] });
    expect(carol.status).toBe(201);
    ids.carol = carol.body!.id;

    const demote = (id: string) => as('PUT', `/api/v1/users/${id}/roles`, { roles: ['USER'] });
    const deactivate = (id: string) => as('PATCH', `/api/v1/users/${id}`, { is_active: false });
    const remove = (id: string) => as('DELETE', `/api/v1/users/${id}`);
    const rounds: [(id: string) => ReturnType<typeof api>, (id: string) => ReturnType<typeof api>][] = [
      [demote, demote],
      [demote, demote],
      [demote, demote],
      [deactivate, demote],
      [demote, deactivate],
      [deactivate, deactivate],
      [remove, remove],
    ];
    for (const [first, second] of rounds) {
      expect(await activeAdmins()).toBe(2);
      const results = await Promise.all([first(ids.admin!), second(ids.carol!)]);
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 409), JSON.stringify(statuses)).toHaveLength(1);
      expect(statuses.filter((s) => s === 200 || s === 204)).toHaveLength(1);
      expect(results.find((r) => r.status === 409)!.body!.error.code).toBe('CONFLICT');
      expect(await activeAdmins()).toBe(1);
      if (first === remove) break;
      // Make both active admins again (gaining the role needs no lock).
      for (const id of [ids.admin!, ids.carol!]) {
        expect((await as('PATCH', `/api/v1/users/${id}`, { is_active: true })).status).toBe(200);
        expect((await as('PUT', `/api/v1/users/${id}/roles`, { roles: ['ADMIN'] })).status).toBe(200);
      }
    }
    expect(await activeAdmins()).toBe(1);
  });

  it('never lets a refresh racing a password change or deactivation keep a session alive', async () => {
    const erin = await api('POST', '/api/v1/users', { token: tokens.ops, body: { username: 'erin', email: 'erin@example.test', password: userPassword } });
    expect(erin.status).toBe(201);
    const id = erin.body!.id as string;
    let current = userPassword;
    for (let i = 0; i < 24; i++) {
      const signedIn = await api('POST', '/api/v1/auth/login', { body: { username: 'erin', password: current }, ip: `203.0.113.${i + 1}` });
      expect(signedIn.status).toBe(200);
      const next = `${userPassword}-${i}`;
      const deactivating = i % 2 === 1;
      const [refreshed, changed] = await Promise.all([
        new Promise((r) => setTimeout(r, Math.floor(i / 2) % 4)).then(() => api('POST', '/api/v1/auth/refresh', { body: { refresh_token: signedIn.body!.refresh_token } })),
        api('PATCH', `/api/v1/users/${id}`, { token: tokens.ops, body: deactivating ? { is_active: false } : { password: next } }),
      ]);
      expect(changed.status).toBe(200);
      if (!deactivating) current = next;
      expect([200, 401]).toContain(refreshed.status);
      // Whichever came first, no refresh token of the user outlives the change…
      const live = await query(h.db.url, 'select id from identity.refresh_tokens where user_id = $1 and revoked_at is null', [id]);
      expect(live, `round ${i}: refresh answered ${refreshed.status}`).toHaveLength(0);
      // …and neither does an access token issued before it.
      if (refreshed.status === 200) {
        expect((await api('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshed.body!.refresh_token } })).status).toBe(401);
        expect((await api('GET', '/api/v1/auth/me', { token: refreshed.body!.access_token })).status).toBe(401);
      }
      if (deactivating) expect((await api('PATCH', `/api/v1/users/${id}`, { token: tokens.ops, body: { is_active: true } })).status).toBe(200);
    }
  });

  it('keeps passwords and their hashes out of the audit log and the logs', async () => {
    const dump = await auditDump(h.db);
    for (const secret of [adminPassword, userPassword, '$argon2id$']) {
      expect(dump).not.toContain(secret);
      expect(h.logs()).not.toContain(secret);
    }
  });
});

describe('identity: bootstrap with ADMIN_INITIAL_PASSWORD', () => {
  let h: IdentityHarness;
  beforeAll(async () => {
    h = await startIdentityHarness('identity_boot');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses a password that breaks the policy, naming the variable but not the value', async () => {
    const res = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: 'tooshort' });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('ADMIN_INITIAL_PASSWORD: must be at least 12 characters');
    expect(res.stderr + res.stdout).not.toContain('tooshort');
    expect(await query(h.db.url, 'select 1 from identity.users')).toHaveLength(0);
  });

  it('uses ADMIN_INITIAL_PASSWORD and prints no password', async () => {
    const password = `initial-${randomBytes(10).toString('hex')}`;
    const res = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: password });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('Admin user created: admin (password from ADMIN_INITIAL_PASSWORD)');
    expect(res.stdout + res.stderr).not.toContain(password);
    const [row] = await query<{ password_hash: string }>(h.db.url, `select password_hash from identity.users where username = 'admin'`);
    expect(await verify(row!.password_hash, password)).toBe(true);
    const login = await client(await h.app())('POST', '/api/v1/auth/login', { body: { username: 'admin@csda.local', password } });
    expect(login.status).toBe(200);
  });

  it('keeps an admin bootstrapped with the old admin@cdsa.local address: it counts as existing and logs in by it', async () => {
    const password = `legacy-${randomBytes(10).toString('hex')}`;
    // As an install bootstrapped before the typo fix looks (the admin from the previous test, its email and password as then).
    await query(h.db.url, `update identity.users set email = 'admin@cdsa.local', password_hash = $1 where username = 'admin'`, [await hash(password)]);
    const res = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: `other-${randomBytes(10).toString('hex')}` });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('Admin user already exists');
    expect(await query(h.db.url, 'select email from identity.users')).toEqual([{ email: 'admin@cdsa.local' }]);
    const api = client(await h.app());
    expect((await api('POST', '/api/v1/auth/login', { body: { username: 'admin@cdsa.local', password }, ip: '198.51.100.201' })).status).toBe(200);
    expect((await api('POST', '/api/v1/auth/login', { body: { username: 'ADMIN@CDSA.LOCAL', password }, ip: '198.51.100.202' })).status).toBe(200);
  });
});
