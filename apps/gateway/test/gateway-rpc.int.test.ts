import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Code, type Client } from '@connectrpc/connect';
import {
  PERMISSIONS,
  SEEDED_ROLES,
  actingFor,
  createInternalTokenSigner,
  parseSigningKey,
  principalHeaders,
  servicePrincipal,
  type InternalTokenSigner,
  type Principal,
} from '@csda/auth';
import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { createServiceClient } from '@csda/service-kit';
import {
  createTestDatabase,
  deleteNamespace,
  freePort,
  generateTestKeys,
  natsUrl,
  provisionTestDatabase,
  query,
  runCommand,
  spawnService,
  testNamespace,
  waitFor,
  type RunningService,
  type TestDatabase,
} from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

const DAY = 86_400_000;

/**
 * GatewayService GetUsers / PurgeSessions on the gateway's RPC port, the
 * gateway a real production process (its own database role, verify keys of
 * every service in INTERNAL_VERIFY_KEYS): only the scheduler's own identity
 * is served; every other caller is refused.
 */
describe('GatewayService for the scheduler', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const adminPassword = `admin-${randomUUID()}`;
  const userPassword = `user-${randomUUID()}`;
  let db: TestDatabase;
  let gateway: RunningService | undefined;
  let rest: string;
  let rpc: Client<typeof GatewayService>;
  const ids: Record<string, string> = {};
  const signer = (service: string): InternalTokenSigner => createInternalTokenSigner({ key: parseSigningKey(service, keys.signingKeys[service]!) });
  const as = async (service: string, principal: Principal, audience = 'gateway') => ({ headers: principalHeaders(await signer(service).sign(principal, audience)) });
  const scheduler = () => as('scheduler', servicePrincipal('scheduler', []));

  const { api, session: login } = restClient(() => rest);

  beforeAll(async () => {
    db = await createTestDatabase('gw_rpc');
    const urls = await provisionTestDatabase(db.url);
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: urls.gateway,
      NATS_URL: natsUrl(),
      NATS_NAMESPACE: namespace,
      REDIS_KEY_PREFIX: `${namespace}:`,
      OPS_PORT: String(await freePort()),
      ADMIN_INITIAL_PASSWORD: adminPassword,
      ...keys.envFor('gateway'),
    };
    for (const command of ['migrate', 'bootstrap']) {
      const result = await runCommand('gateway', command, env);
      expect(result.code, result.stderr + result.stdout).toBe(0);
    }
    const rpcPort = await freePort();
    gateway = spawnService('gateway', env, rpcPort, await freePort());
    rest = `http://127.0.0.1:${gateway.httpPort}`;
    rpc = createServiceClient(GatewayService, `http://127.0.0.1:${rpcPort}`);
    await waitFor(async () => {
      if (gateway!.process.exitCode !== null) throw new Error(`gateway exited ${gateway!.process.exitCode}:\n${gateway!.logs()}`);
      return (await fetch(`${rest}/healthz`).catch(() => undefined))?.status === 200;
    }, { timeoutMs: 30_000, what: 'gateway up' });

    const admin = await login('admin', adminPassword);
    ids.adminToken = admin.access_token;
    ids.adminRefresh = admin.refresh_token;
    ids.admin = (await api('GET', '/api/v1/auth/me', admin.access_token)).body!.id;
    for (const name of ['alice', 'bob']) {
      const created = await api('POST', '/api/v1/users', admin.access_token, { username: name, email: `${name}@example.test`, password: userPassword });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids[name] = created.body!.id;
    }
    expect((await api('PATCH', `/api/v1/users/${ids.bob}`, admin.access_token, { is_active: false })).status).toBe(200);
  }, 90_000);

  afterAll(async () => {
    if (gateway && gateway.process.exitCode === null) {
      const exited = once(gateway.process, 'exit');
      gateway.process.kill('SIGTERM');
      await exited;
    }
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('GetUsers: active flag, username, roles and effective permissions; the seeded roles carry jobs and alerts', async () => {
    const unknown = randomUUID();
    const res = await rpc.getUsers({ ids: [ids.admin!, ids.alice!, ids.bob!, unknown, ids.alice!] }, await scheduler());
    const byId = new Map(res.users.map((u) => [u.id, u]));
    expect(res.users).toHaveLength(3);
    expect(byId.has(unknown)).toBe(false);
    expect(byId.get(ids.admin!)).toMatchObject({ username: 'admin', isActive: true, roles: ['ADMIN'], permissions: [...PERMISSIONS].sort() });
    const userPermissions = [...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions].sort();
    expect(byId.get(ids.alice!)).toMatchObject({ username: 'alice', isActive: true, roles: ['USER'], permissions: userPermissions });
    expect(byId.get(ids.alice!)!.permissions).toEqual(expect.arrayContaining(['jobs:read', 'alerts:read']));
    expect(byId.get(ids.alice!)!.permissions).not.toContain('alerts:admin');
    expect(byId.get(ids.admin!)!.permissions).toEqual(expect.arrayContaining(['jobs:read', 'alerts:read', 'alerts:admin']));
    expect(byId.get(ids.bob!)).toMatchObject({ username: 'bob', isActive: false, roles: ['USER'] });
    expect((await rpc.getUsers({ ids: [] }, await scheduler())).users).toEqual([]);
  });

  it('GetUsers refuses ids that are not UUIDs and oversized requests', async () => {
    await expect(rpc.getUsers({ ids: ['admin'] }, await scheduler())).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(rpc.getUsers({ ids: ["' or 1=1 --"] }, await scheduler())).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(rpc.getUsers({ ids: Array.from({ length: 1_001 }, () => randomUUID()) }, await scheduler())).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it('answers nobody but service:scheduler: users (even admins), other services, other audiences, the scheduler acting for a user', async () => {
    const adminUser: Principal = { kind: 'user', id: ids.admin!, name: 'admin', roles: ['ADMIN'], permissions: [...PERMISSIONS] };
    const callers: [string, Promise<{ headers: Record<string, string> }> | undefined, Code][] = [
      ['a gateway-signed admin user', as('gateway', adminUser), Code.PermissionDenied],
      ['the gateway itself', as('gateway', servicePrincipal('gateway', ['system:read'])), Code.PermissionDenied],
      ['the scheduler acting for alice', as('scheduler', actingFor(servicePrincipal('scheduler', []), { id: ids.alice!, name: 'alice', roles: ['USER'] }, [['secrets:read', randomUUID()]])), Code.PermissionDenied],
      // Issuers the gateway does not trust, and tokens minted for another callee, fail authentication.
      ['the tool-runner', as('tool-runner', servicePrincipal('tool-runner', [])), Code.Unauthenticated],
      ['the vault', as('vault', servicePrincipal('vault', [])), Code.Unauthenticated],
      ['a scheduler token for the vault', as('scheduler', servicePrincipal('scheduler', []), 'vault'), Code.Unauthenticated],
      ['no token', undefined, Code.Unauthenticated],
    ];
    for (const [who, options, code] of callers) {
      const opts = options ? await options : undefined;
      await expect(rpc.getUsers({ ids: [ids.admin!] }, opts), who).rejects.toMatchObject({ code });
      await expect(rpc.purgeSessions({ nowMs: BigInt(Date.now()) }, opts), who).rejects.toMatchObject({ code });
    }
    // GetInfo stays open to every trusted caller.
    expect((await rpc.getInfo({}, await as('gateway', servicePrincipal('gateway', ['system:read'])))).info?.name).toBe('gateway');
    // Refusals of authenticated callers are audited.
    await waitFor(async () => (await query(db.url, `select 1 from identity.audit_log where action = 'permission_denied' and actor = $1`, [ids.admin])).length >= 2, { timeoutMs: 15_000, what: 'permission_denied audited' });
    // A refused service is recorded as the gateway's own refusal naming the caller (a service records only its own actions).
    await waitFor(
      async () =>
        (await query(db.url, `select 1 from identity.audit_log where action = 'permission_denied' and actor = 'service:gateway' and payload->'details'->>'caller' = 'service:scheduler' and payload->'details'->>'on_behalf_of' = $1`, [ids.alice]))
          .length >= 2,
      { timeoutMs: 15_000, what: 'the scheduler acting for alice audited as refused by the gateway' },
    );
  });

  it('PurgeSessions deletes dead refresh tokens, keeps spent ones while their family could still be live, and is audited', async () => {
    const now = Date.now();
    const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
    const rows: { label: string; expires: number; used?: number; revoked?: number; family: number; purge: boolean }[] = [
      { label: 'live', expires: DAY, family: -DAY, purge: false },
      { label: 'expired, never spent', expires: -3_600_000, family: -2 * DAY, purge: true },
      { label: 'revoked, never spent', expires: DAY, revoked: -60_000, family: -DAY, purge: true },
      { label: 'spent, expired, family past max age', expires: -DAY, used: -16 * DAY, family: -31 * DAY, purge: true },
      { label: 'spent, expired, family young (reuse evidence)', expires: -DAY, used: -15 * DAY, family: -10 * DAY, purge: false },
      { label: 'spent, not expired', expires: 10 * DAY, used: -60_000, family: -DAY, purge: false },
      { label: 'spent and revoked, family young', expires: DAY, used: -DAY, revoked: -3_600_000, family: -2 * DAY, purge: false },
      { label: 'spent, revoked, expired, family past max age', expires: -5 * DAY, used: -20 * DAY, revoked: -19 * DAY, family: -40 * DAY, purge: true },
    ];
    const inserted = new Map<string, (typeof rows)[number]>();
    for (const row of rows) {
      const id = randomUUID();
      inserted.set(id, row);
      await query(
        db.url,
        `insert into identity.refresh_tokens (id, token_hash, family_id, user_id, created_at, expires_at, used_at, revoked_at, family_started_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $5)`,
        [id, `hash-${id}`, randomUUID(), ids.alice, at(row.family), at(row.expires), row.used === undefined ? null : at(row.used), row.revoked === undefined ? null : at(row.revoked)],
      );
    }
    const before = Number((await query<{ n: string }>(db.url, 'select count(*) n from identity.refresh_tokens'))[0]!.n);

    const res = await rpc.purgeSessions({ nowMs: BigInt(now) }, await scheduler());
    expect(res.purged).toBe(BigInt(rows.filter((r) => r.purge).length));
    const left = new Set((await query<{ id: string }>(db.url, 'select id from identity.refresh_tokens')).map((r) => r.id));
    for (const [id, row] of inserted) expect(left.has(id), row.label).toBe(!row.purge);
    expect(left.size).toBe(before - rows.filter((r) => r.purge).length);

    // Idempotent; the admin's live session (from the login above) still refreshes.
    expect((await rpc.purgeSessions({ nowMs: 0n }, await scheduler())).purged).toBe(0n);
    const refreshed = await api('POST', '/api/v1/auth/refresh', undefined, { refresh_token: ids.adminRefresh });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);

    await waitFor(async () => (await query(db.url, `select 1 from identity.audit_log where action = 'sessions_purged'`)).length === 2, { timeoutMs: 15_000, what: 'sessions_purged audited' });
    const audited = await query<{ actor: string; payload: { details: Record<string, string> } }>(db.url, `select actor, payload from identity.audit_log where action = 'sessions_purged' order by id`);
    expect(audited.map((r) => [r.actor, r.payload.details.purged, r.payload.details.requested_by])).toEqual([
      ['service:gateway', '4', 'service:scheduler'],
      ['service:gateway', '0', 'service:scheduler'],
    ]);
  });

  it('PurgeSessions refuses a now_ms ahead of the gateway clock (it would purge live sessions)', async () => {
    await expect(rpc.purgeSessions({ nowMs: BigInt(Date.now() + 30 * DAY) }, await scheduler())).rejects.toMatchObject({ code: Code.InvalidArgument });
    const live = await query(db.url, 'select 1 from identity.refresh_tokens where used_at is null and revoked_at is null and expires_at > now()');
    expect(live.length).toBeGreaterThan(0);
  });
});
