import { randomBytes } from 'node:crypto';
import { query, runCommand, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startIdentityHarness, type Body, type IdentityHarness } from './support/identity-harness.ts';

/**
 * Self-escalation by a delegated user admin: granting roles needs
 * roles:admin, and no one grants (or administers an account holding) a
 * permission they do not hold. Roles are created here, as an operator would.
 */
describe('identity: role grants cannot escalate', () => {
  let h: IdentityHarness;
  let api: ReturnType<typeof client>;
  const password = `grant-${randomBytes(12).toString('base64url')}`;
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};

  const login = async (username: string) => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username, password }, ip: '198.51.100.77' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body!.access_token as string;
  };
  const rolesOf = async (id: string) =>
    (await query<{ role_name: string }>(h.db.url, 'select role_name from identity.user_roles where user_id = $1 order by role_name', [id])).map((r) => r.role_name);
  const forbidden = (res: { status: number; body?: Body }, message: RegExp) => {
    expect(res.status, JSON.stringify(res.body)).toBe(403);
    expect(res.body!.error).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: expect.stringMatching(message), request_id: expect.any(String) });
  };

  beforeAll(async () => {
    h = await startIdentityHarness('identity_grants');
    api = client(await h.app({ REVOCATION_CACHE_MS: '0' }));
    const boot = await runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: password });
    if (boot.code !== 0) throw new Error(boot.stderr);
    await query(
      h.db.url,
      `insert into identity.roles (name, description, permissions) values
        ('USER_ADMIN', 'delegated user admin', array['users:admin', 'users:read']),
        ('ROLE_DELEGATE', 'delegated user and role admin', array['users:admin', 'users:read', 'roles:admin', 'roles:read']),
        ('READER', 'reads users', array['users:read'])`,
    );
    tokens.admin = await login('admin');
    const create = async (username: string, roles: string[]) => {
      const res = await api('POST', '/api/v1/users', { token: tokens.admin, body: { username, email: `${username}@example.test`, password, roles } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids[username] = res.body!.id;
    };
    await create('uadmin', ['USER_ADMIN']);
    await create('delegate', ['ROLE_DELEGATE']);
    await create('plain', ['USER']);
    await create('reader', ['READER']);
    ids.admin = (await query<{ id: string }>(h.db.url, `select id from identity.users where username = 'admin'`))[0]!.id;
    tokens.uadmin = await login('uadmin');
    tokens.delegate = await login('delegate');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('USER_ADMIN (users:admin + users:read) cannot grant ADMIN to itself or anyone, nor any role at all', async () => {
    const t = tokens.uadmin;
    forbidden(await api('PUT', `/api/v1/users/${ids.uadmin}/roles`, { token: t, body: { roles: ['ADMIN'] } }), /roles:admin required/);
    forbidden(await api('PUT', `/api/v1/users/${ids.plain}/roles`, { token: t, body: { roles: ['ADMIN'] } }), /roles:admin required/);
    forbidden(await api('PUT', `/api/v1/users/${ids.reader}/roles`, { token: t, body: { roles: ['READER', 'USER_ADMIN'] } }), /roles:admin required/);
    forbidden(await api('POST', '/api/v1/users', { token: t, body: { username: 'sock', email: 'sock@example.test', password, roles: ['ADMIN'] } }), /roles:admin required/);
    // Even the default USER role carries permissions it lacks.
    forbidden(await api('POST', '/api/v1/users', { token: t, body: { username: 'sock2', email: 'sock2@example.test', password } }), /permissions you do not hold/);
    expect(await rolesOf(ids.uadmin!)).toEqual(['USER_ADMIN']);
    expect(await rolesOf(ids.plain!)).toEqual(['USER']);
    expect(await query(h.db.url, `select 1 from identity.users where username like 'sock%'`)).toHaveLength(0);
  });

  it('USER_ADMIN cannot take over a more privileged account (password, email, deactivation, deletion), but administers its peers', async () => {
    const t = tokens.uadmin;
    forbidden(await api('PATCH', `/api/v1/users/${ids.admin}`, { token: t, body: { password: `taken-${randomBytes(8).toString('hex')}` } }), /account holding permissions/);
    forbidden(await api('PATCH', `/api/v1/users/${ids.admin}`, { token: t, body: { email: 'mine@example.test' } }), /account holding permissions/);
    forbidden(await api('PATCH', `/api/v1/users/${ids.delegate}`, { token: t, body: { is_active: false } }), /account holding permissions/);
    forbidden(await api('DELETE', `/api/v1/users/${ids.plain}`, { token: t }), /account holding permissions/);
    expect(await login('admin')).toBeTruthy(); // its password is unchanged
    const ok = await api('PATCH', `/api/v1/users/${ids.reader}`, { token: t, body: { email: 'reader2@example.test' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('a role admin grants only roles within its own permissions, to accounts within them', async () => {
    const t = tokens.delegate;
    forbidden(await api('PUT', `/api/v1/users/${ids.delegate}/roles`, { token: t, body: { roles: ['ADMIN'] } }), /permissions you do not hold \(.*secrets:admin/);
    forbidden(await api('PUT', `/api/v1/users/${ids.reader}/roles`, { token: t, body: { roles: ['USER'] } }), /permissions you do not hold/);
    forbidden(await api('POST', '/api/v1/users', { token: t, body: { username: 'sock3', email: 'sock3@example.test', password, roles: ['ROLE_DELEGATE', 'USER'] } }), /permissions you do not hold/);
    // Nor strip an admin (an account holding more than it does).
    forbidden(await api('PUT', `/api/v1/users/${ids.admin}/roles`, { token: t, body: { roles: ['READER'] } }), /account holding permissions/);
    expect(await rolesOf(ids.delegate!)).toEqual(['ROLE_DELEGATE']);
    expect(await rolesOf(ids.admin!)).toEqual(['ADMIN']);

    const granted = await api('PUT', `/api/v1/users/${ids.reader}/roles`, { token: t, body: { roles: ['READER', 'USER_ADMIN'] } });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body!.roles).toEqual(['READER', 'USER_ADMIN']);
    const created = await api('POST', '/api/v1/users', { token: t, body: { username: 'reader3', email: 'reader3@example.test', password, roles: ['READER'] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });

  it('audits every denial as permission_denied with actor, route and required permission', async () => {
    const denials = () =>
      query<{ actor: string; payload: Body }>(h.db.url, `select actor, payload from identity.audit_log where action = 'permission_denied' order by id`);
    await waitFor(async () => (await denials()).length >= 13);
    const rows = await denials();
    const details = rows.map((r) => ({ actor: r.actor, ...(r.payload.details ?? r.payload) }));
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: ids.uadmin, route: 'PUT /api/v1/users/:id/roles', required: 'roles:admin', reason: 'missing_permission' }),
        expect.objectContaining({ actor: ids.uadmin, route: 'POST /api/v1/users', required: 'roles:admin', reason: 'roles_admin_required' }),
        expect.objectContaining({ actor: ids.uadmin, route: 'POST /api/v1/users', reason: 'grant_exceeds_own_permissions' }),
        expect.objectContaining({ actor: ids.uadmin, route: 'PATCH /api/v1/users/:id', reason: 'target_more_privileged' }),
        expect.objectContaining({ actor: ids.delegate, route: 'PUT /api/v1/users/:id/roles', reason: 'grant_exceeds_own_permissions' }),
      ]),
    );
    // A route guard's denial too (hook), e.g. reading the audit trail without audit:read.
    forbidden(await api('GET', '/api/v1/audit', { token: tokens.uadmin }), /audit:read required/);
    await waitFor(async () => (await denials()).some((r) => JSON.stringify(r.payload).includes('GET /api/v1/audit')));
    expect(JSON.stringify(await denials())).not.toContain(password);
  });
});
