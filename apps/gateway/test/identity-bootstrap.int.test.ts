import { randomBytes } from 'node:crypto';
import { query, runCommand, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startIdentityHarness, type IdentityHarness } from './support/identity-harness.ts';

/**
 * The bootstrap creates the first admin only while no ACTIVE user holds
 * ADMIN: names are never what it checks. Decision (documented in bootstrap.ts):
 * when every ADMIN holder is deactivated, a run creates a new admin (the
 * recovery path; the API cannot deactivate the last admin, so only direct
 * database work gets there), under a free name if `admin` is taken.
 */
describe('identity: bootstrap only while no active user holds ADMIN', () => {
  let h: IdentityHarness;
  let api: ReturnType<typeof client>;
  const password = `boot-${randomBytes(12).toString('base64url')}`;

  beforeAll(async () => {
    h = await startIdentityHarness('identity_bootstrap');
    api = client(await h.app({ REVOCATION_CACHE_MS: '0' }));
  });
  afterAll(async () => {
    await h?.close();
  });

  const bootstrap = () => runCommand('gateway', 'bootstrap', { ...h.env, ADMIN_INITIAL_PASSWORD: password });
  const admins = () =>
    query<{ username: string; is_active: boolean }>(h.db.url, `select u.username, u.is_active from identity.users u join identity.user_roles r on r.user_id = u.id where r.role_name = 'ADMIN' order by u.created_at`);
  const adminToken = async (username: string) => {
    const res = await api('POST', '/api/v1/auth/login', { body: { username, password }, ip: '198.51.100.90' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body!.access_token as string;
  };

  it('creates nothing after the admin is renamed, nor after it is deleted while another admin is active', async () => {
    const first = await bootstrap();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('Admin user created: admin (password from ADMIN_INITIAL_PASSWORD)');
    const token = await adminToken('admin');
    const id = (await query<{ id: string }>(h.db.url, `select id from identity.users where username = 'admin'`))[0]!.id;

    const renamed = await api('PATCH', `/api/v1/users/${id}`, { token, body: { username: 'root', email: 'root@example.test' } });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    const again = await bootstrap();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Admin user already exists');
    expect(await admins()).toEqual([{ username: 'root', is_active: true }]);

    const second = await api('POST', '/api/v1/users', { token, body: { username: 'second', email: 'second@example.test', password, roles: ['ADMIN'] } });
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect((await api('DELETE', `/api/v1/users/${id}`, { token })).status).toBe(204);
    expect((await bootstrap()).stdout).toContain('Admin user already exists');
    expect(await admins()).toEqual([{ username: 'second', is_active: true }]);
  });

  it('creates a new admin once the only one is deactivated, under a free name when `admin` is taken, never promoting that account', async () => {
    const token = await adminToken('second');
    // Someone else holds the name `admin` (a plain USER account).
    const squatter = await api('POST', '/api/v1/users', { token, body: { username: 'admin', email: 'admin@csda.local', password } });
    expect(squatter.status, JSON.stringify(squatter.body)).toBe(201);
    await query(h.db.url, `update identity.users set is_active = false where username = 'second'`);

    const res = await bootstrap();
    expect(res.code, res.stderr).toBe(0);
    const created = /^Admin user created: (admin-[0-9a-f]{8}) \(password from ADMIN_INITIAL_PASSWORD\)$/m.exec(res.stdout);
    expect(created, res.stdout).not.toBeNull();
    expect(await admins()).toEqual([
      { username: 'second', is_active: false },
      { username: created![1], is_active: true },
    ]);
    const [squat] = await query<{ roles: string[] }>(h.db.url, `select array_agg(r.role_name) roles from identity.user_roles r join identity.users u on u.id = r.user_id where u.username = 'admin'`);
    expect(squat!.roles).toEqual(['USER']);
    expect((await api('GET', '/api/v1/users', { token: await adminToken(created![1]!) })).status).toBe(200);
  });

  it('creates exactly one admin when two bootstraps race with no active admin', async () => {
    await query(h.db.url, `update identity.users set is_active = false`);
    const runs = await Promise.all([bootstrap(), bootstrap()]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(runs.filter((r) => r.stdout.includes('Admin user created')).length).toBe(1);
    expect((await admins()).filter((a) => a.is_active)).toHaveLength(1);
  });

  it('audits every run, created or skipped, through the audit trail', async () => {
    const rows = () => query<{ action: string; n: string }>(h.db.url, `select action, count(*) n from identity.audit_log where actor = 'service:gateway' group by action`);
    await waitFor(async () => {
      const counts = Object.fromEntries((await rows()).map((r) => [r.action, Number(r.n)]));
      return counts.user_created === 3 && counts.bootstrap_skipped === 3;
    });
    const [created] = await query<{ payload: unknown }>(h.db.url, `select payload from identity.audit_log where action = 'user_created' and actor = 'service:gateway' order by occurred_at limit 1`);
    expect(JSON.stringify(created!.payload)).toMatch(/"via":"bootstrap"/);
    expect(JSON.stringify(created!.payload)).not.toContain(password);
  });
});
