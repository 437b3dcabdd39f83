import { Code, ConnectError, createClient, createRouterTransport, type Client, type Interceptor } from '@connectrpc/connect';
import { actingFor, principalKey, SEEDED_ROLES, servicePrincipal, type Principal } from '@csda/auth';
import { describeConnectError } from '@csda/errors';
import { generateWebhookSecret, parseAllowList, type Resolver } from '@csda/net';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createLogger, migrate, openDatabase, serverInterceptor, type MikroORM } from '@csda/service-kit';
import { adminUrl, query } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeliveryRepository } from '../src/alerts/alert-delivery.repository.ts';
import { createDestinationCheck } from '../src/alerts/alert-http.ts';
import { createAlertRepository, type AlertInput } from '../src/alerts/alert.repository.ts';
import type { RevealSigningSecret } from '../src/alerts/alert.types.ts';
import { createAlertsRpc } from '../src/alerts/alerts.rpc.ts';
import { Migration20261122000000Init } from '../src/migrations/Migration20261122000000-init.ts';
import { Migration20261203010000Alerts } from '../src/migrations/Migration20261203010000-alerts.ts';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: perms('USER') };
const bob: Principal = { kind: 'user', id: 'user-bob', name: 'bob', roles: ['USER'], permissions: perms('USER') };
const admin: Principal = { kind: 'user', id: 'user-admin', name: 'admin', roles: ['ADMIN'], permissions: perms('ADMIN') };
const nobody: Principal = { kind: 'user', id: 'user-nobody', name: 'nobody', roles: ['OPS'], permissions: ['secrets:read'] };
const scoped = actingFor(servicePrincipal('scheduler', []), { id: alice.id, name: alice.name, roles: alice.roles }, [['alerts:read', 'x']]);

const SECRET_OK = '11111111-1111-4111-8111-111111111111';
const SECRET_NOT_WHSEC = '22222222-2222-4222-8222-222222222222';
const SECRET_VAULT_DOWN = '33333333-3333-4333-8333-333333333333';
const SIGNING_SECRET = generateWebhookSecret();

/** A database of its own (the scheduler needs no extension, so not createTestDatabase, which also wants pgvector). */
async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `csda_t_sched_alerts_${randomBytes(4).toString('hex')}`;
  await query(adminUrl(), `create database "${name}"`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => void (await query(adminUrl(), `drop database if exists "${name}" with (force)`)) };
}

const alert = (key: string, over: Partial<AlertInput> = {}): AlertInput => ({
  dedupeKey: key,
  kind: 'rotation_failed',
  severity: 'critical',
  ownerId: alice.id,
  resourceType: 'secret',
  resourceId: 'secret-1',
  message: `alert ${key}`,
  ...over,
});

/** Alerts and webhooks over Connect (router transport), on a real database migrated with the alert migration. */
describe('alerts: raise, list, acknowledge, webhooks', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let orm: MikroORM;
  let client: Client<typeof SchedulerService>;
  const em = () => orm.em.fork() as EntityManager;
  const reveals: string[] = [];
  // The vault's side of the seam: who owns which secret, as RevealSecret would answer acting for the owner.
  const reveal: RevealSigningSecret = async ({ signingSecretId, owner }) => {
    reveals.push(`${owner.id}:${signingSecretId}:[${owner.roles.join(',')}]`);
    if (signingSecretId === SECRET_VAULT_DOWN) throw new ConnectError('vault unavailable', Code.Unavailable);
    if (owner.id !== admin.id) throw new ConnectError('Secret not found', Code.NotFound);
    if (signingSecretId === SECRET_OK) return SIGNING_SECRET;
    if (signingSecretId === SECRET_NOT_WHSEC) return 'hunter2-plain-password';
    throw new ConnectError('Secret not found', Code.NotFound);
  };
  // DNS as the test decides it: nothing here is ever connected to.
  const resolver: Resolver = async (host) => {
    if (host === 'hooks.internal.test') return [{ address: '10.1.2.3', family: 4 }];
    if (host === 'hooks.allowed.test') return [{ address: '10.9.9.9', family: 4 }];
    if (host === 'metadata.test') return [{ address: '169.254.169.254', family: 4 }];
    if (host === 'public.example.com') return [{ address: '93.184.215.14', family: 4 }];
    throw new Error('ENOTFOUND');
  };

  const as = (p: Principal) => ({ headers: { 'x-test-principal': JSON.stringify(p) } });
  const failure = async (promise: Promise<unknown>) => {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    return describeConnectError(err as ConnectError);
  };

  beforeAll(async () => {
    db = await createDatabase();
    const logger = createLogger({ service: 'scheduler', level: 'silent' });
    const migrations = [
      { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
      { name: 'Migration20261203010000-alerts', class: Migration20261203010000Alerts },
    ];
    orm = await openDatabase({ url: db.url, schema: 'scheduler', entities: [], migrations, logger });
    await migrate(orm, db.url, 'scheduler');
    // The test's stand-in for the internal-auth interceptor: the principal the gateway would have signed.
    const principalFromHeader: Interceptor = (next) => async (req) => {
      const header = req.header.get('x-test-principal');
      if (header) req.contextValues.set(principalKey, JSON.parse(header) as Principal);
      return next(req);
    };
    const checkDestination = createDestinationCheck({ ALERT_WEBHOOK_ALLOW: parseAllowList('hooks.allowed.test') }, resolver);
    const transport = createRouterTransport(
      (router) => router.service(SchedulerService, createAlertsRpc({ em, revealSigningSecret: reveal, checkDestination, maxWebhooks: 6 })),
      { router: { interceptors: [serverInterceptor(logger, false), principalFromHeader] } },
    );
    client = createClient(SchedulerService, transport);
  });

  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await query(db.url, 'truncate scheduler.alert_deliveries, scheduler.alerts, scheduler.alert_webhooks');
  });

  const webhook = async (over: { url?: string; kinds?: string[] } = {}) =>
    (await client.createAlertWebhook({ url: over.url ?? 'https://public.example.com/hook', kinds: over.kinds ?? [], signingSecretId: SECRET_OK }, as(admin))).webhook!;

  it('raises an alert once per dedupe key, with one pending delivery per matching active webhook', async () => {
    const all = await webhook();
    const expiredOnly = await webhook({ kinds: ['secret_expired'] });
    const gone = await webhook();
    await client.deleteAlertWebhook({ id: gone.id }, as(admin));

    expect(await createAlertRepository(em()).raise([alert('k1'), alert('k1', { message: 'again' })])).toBe(1);
    expect(await createAlertRepository(em()).raise([alert('k1')])).toBe(0);
    // Two replicas raising the same alert at the same moment still make one.
    const raced = await Promise.all([1, 2, 3, 4].map(() => createAlertRepository(em()).raise([alert('k2', { kind: 'secret_expired' })])));
    expect(raced.reduce((a, b) => a + b, 0)).toBe(1);

    const rows = await query<{ dedupe_key: string; message: string; webhooks: string[] }>(
      db.url,
      `select a.dedupe_key, a.message, array_remove(array_agg(d.webhook_id::text order by d.webhook_id), null) as webhooks
         from scheduler.alerts a left join scheduler.alert_deliveries d on d.alert_id = a.id group by a.id order by a.dedupe_key`,
    );
    expect(rows).toEqual([
      { dedupe_key: 'k1', message: 'alert k1', webhooks: [all.id] },
      { dedupe_key: 'k2', message: 'alert k2', webhooks: [all.id, expiredOnly.id].sort() },
    ]);
    const [k1] = await query<{ id: string }>(db.url, `select id from scheduler.alerts where dedupe_key = 'k1'`);
    expect(await createDeliveryRepository(em()).forAlert(k1!.id)).toMatchObject([{ webhookId: all.id, status: 'pending', attempts: 0, lastError: null }]);
    expect(await createAlertRepository(em()).raise([])).toBe(0);
  });

  it('commits the alert and its deliveries with the caller’s transaction, or neither', async () => {
    await webhook();
    await em()
      .transactional(async (tx) => {
        expect(await createAlertRepository(tx as EntityManager).raise([alert('tx-1')])).toBe(1);
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    expect(await query(db.url, 'select 1 from scheduler.alerts')).toHaveLength(0);
    expect(await query(db.url, 'select 1 from scheduler.alert_deliveries')).toHaveLength(0);
  });

  it('shows owners their own alerts, system:read all of them, with filters and paging', async () => {
    await createAlertRepository(em()).raise([
      alert('a1'),
      alert('a2', { kind: 'secret_expiring', severity: 'warning' }),
      alert('b1', { ownerId: bob.id, kind: 'secret_expired' }),
    ]);
    const mine = await client.listAlerts({}, as(alice));
    expect(mine.total).toBe(2n);
    expect(mine.items.map((a) => a.message).sort()).toEqual(['alert a1', 'alert a2']);
    expect(mine.items.every((a) => a.ownerId === alice.id && a.createdAtMs > 0n && a.acknowledgedAtMs === 0n)).toBe(true);
    expect((await client.listAlerts({}, as(bob))).items.map((a) => a.message)).toEqual(['alert b1']);
    expect((await client.listAlerts({}, as(admin))).total).toBe(3n);
    expect((await client.listAlerts({ kind: 'secret_expiring' }, as(alice))).items.map((a) => a.severity)).toEqual(['warning']);
    expect((await client.listAlerts({ kind: 'secret_expired' }, as(alice))).total).toBe(0n);
    const page = await client.listAlerts({ limit: 1, offset: 1 }, as(admin));
    expect([page.items.length, page.total]).toEqual([1, 3n]);

    const bad = await failure(client.listAlerts({ kind: 'everything', acknowledged: 'maybe' }, as(alice)));
    expect(bad).toMatchObject({ code: 'VALIDATION_ERROR', details: { kind: expect.stringContaining('rotation_due'), acknowledged: expect.any(String) } });
    expect((await failure(client.listAlerts({}, as(nobody)))).code).toBe('AUTHORIZATION_ERROR');
    expect((await failure(client.listAlerts({}, as(scoped)))).code).toBe('AUTHORIZATION_ERROR');
    expect((await failure(client.listAlerts({}))).code).toBe('AUTHENTICATION_ERROR');
  });

  it('acknowledges own alerts (any with system:read), keeps the first acknowledgement, hides others’ alerts', async () => {
    await createAlertRepository(em()).raise([alert('ack-a'), alert('ack-b', { ownerId: bob.id })]);
    const [a] = (await client.listAlerts({}, as(alice))).items;
    const [b] = (await client.listAlerts({}, as(bob))).items;

    expect((await failure(client.ackAlert({ id: a!.id }, as(bob)))).code).toBe('NOT_FOUND');
    const acked = (await client.ackAlert({ id: a!.id }, as(alice))).alert!;
    expect(acked).toMatchObject({ id: a!.id, acknowledgedBy: alice.id });
    expect(acked.acknowledgedAtMs).toBeGreaterThan(0n);
    const again = (await client.ackAlert({ id: a!.id }, as(admin))).alert!;
    expect([again.acknowledgedBy, again.acknowledgedAtMs]).toEqual([alice.id, acked.acknowledgedAtMs]);
    expect((await client.ackAlert({ id: b!.id }, as(admin))).alert?.acknowledgedBy).toBe(admin.id);

    expect((await client.listAlerts({ acknowledged: 'true' }, as(alice))).items.map((x) => x.id)).toEqual([a!.id]);
    expect((await client.listAlerts({ acknowledged: 'false' }, as(alice))).total).toBe(0n);
    for (const id of ['not-a-uuid', "'; drop table scheduler.alerts; --", '00000000-0000-4000-8000-000000000000']) {
      expect((await failure(client.ackAlert({ id }, as(alice)))).code).toBe('NOT_FOUND');
    }
    expect((await failure(client.ackAlert({ id: a!.id }, as(nobody)))).code).toBe('AUTHORIZATION_ERROR');
  });

  it('lets only alerts:admin manage webhooks, never returning the signing secret', async () => {
    for (const p of [alice, scoped]) {
      expect((await failure(client.listAlertWebhooks({}, as(p)))).code).toBe('AUTHORIZATION_ERROR');
      expect((await failure(client.createAlertWebhook({ url: 'https://public.example.com/x', signingSecretId: SECRET_OK }, as(p)))).code).toBe('AUTHORIZATION_ERROR');
    }
    const created = (await client.createAlertWebhook(
      { url: 'https://public.example.com/hook?team=ops', kinds: ['secret_expired', 'rotation_failed', 'secret_expired'], signingSecretId: SECRET_OK.toUpperCase(), description: 'ops pager' },
      as(admin),
    )).webhook!;
    expect(created).toMatchObject({ url: 'https://public.example.com/hook?team=ops', kinds: ['secret_expired', 'rotation_failed'], signingSecretId: SECRET_OK, createdBy: admin.id, description: 'ops pager' });
    // As the creator alone, with no roles: a secret merely shared with ADMIN does not count.
    expect(reveals).toContain(`${admin.id}:${SECRET_OK}:[]`);
    const listed = await client.listAlertWebhooks({}, as(admin));
    expect(listed.items.map((w) => w.id)).toEqual([created.id]);
    expect(JSON.stringify(listed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(SIGNING_SECRET.slice(6, 20));
    expect((await failure(client.deleteAlertWebhook({ id: created.id }, as(alice)))).code).toBe('AUTHORIZATION_ERROR');
  });

  it('refuses a bad webhook with 422s naming each field', async () => {
    const bad = await failure(
      client.createAlertWebhook({ url: 'http://public.example.com/hook', kinds: ['rotation_due', 'everything'], signingSecretId: 'secret-1', description: 'x'.repeat(501) }, as(admin)),
    );
    expect(bad.code).toBe('VALIDATION_ERROR');
    expect(Object.keys(bad.details).sort()).toEqual(['description', 'kinds', 'signing_secret_id', 'url']);
    expect(bad.details.url).toContain('https');
    expect(bad.details.kinds).toContain('"everything"');

    for (const [url, expected] of [
      ['', 'required'],
      ['not a url', 'not a valid URL'],
      ['ftp://public.example.com/', 'https'],
      ['https://user:pw@public.example.com/', 'credentials'],
      ['https://public.example.com/#frag', 'fragment'],
      [`https://public.example.com/${'a'.repeat(2100)}`, '2048'],
    ] as const) {
      const err = await failure(client.createAlertWebhook({ url, signingSecretId: SECRET_OK }, as(admin)));
      expect([err.code, err.details.url]).toEqual(['VALIDATION_ERROR', expect.stringContaining(expected)]);
    }
    expect(await client.listAlertWebhooks({}, as(admin))).toMatchObject({ items: [] });
  });

  it('refuses private, loopback and metadata targets at create unless allow-listed, without connecting', async () => {
    for (const [url, fragment] of [
      ['https://10.0.0.5/hook', '10.0.0.5'],
      ['https://127.0.0.1:8443/hook', '127.0.0.1'],
      ['https://[::1]/hook', '::1'],
      ['https://hooks.internal.test/hook', '10.1.2.3'],
      ['https://metadata.test/latest', '169.254.169.254'],
    ] as const) {
      const err = await failure(client.createAlertWebhook({ url, signingSecretId: SECRET_OK }, as(admin)));
      expect(err.code).toBe('VALIDATION_ERROR');
      expect(err.details.url).toContain(fragment);
      expect(err.details.url).toContain('ALERT_WEBHOOK_ALLOW');
    }
    // Allow-listed by the operator; a name that does not resolve yet is decided at delivery.
    expect((await webhook({ url: 'https://hooks.allowed.test/hook' })).url).toBe('https://hooks.allowed.test/hook');
    expect((await webhook({ url: 'https://not-yet-in-dns.test/hook' })).url).toBe('https://not-yet-in-dns.test/hook');
  });

  it('checks with the vault that the creator can reveal a whsec_ signing secret', async () => {
    const notMine = await failure(client.createAlertWebhook({ url: 'https://public.example.com/h', signingSecretId: '44444444-4444-4444-8444-444444444444' }, as(admin)));
    expect(notMine).toMatchObject({ code: 'VALIDATION_ERROR', details: { signing_secret_id: expect.stringContaining('no active secret') } });
    const plain = await failure(client.createAlertWebhook({ url: 'https://public.example.com/h', signingSecretId: SECRET_NOT_WHSEC }, as(admin)));
    expect(plain).toMatchObject({ code: 'VALIDATION_ERROR', details: { signing_secret_id: expect.stringContaining('whsec_') } });
    expect(JSON.stringify(plain)).not.toContain('hunter2');
    expect((await failure(client.createAlertWebhook({ url: 'https://public.example.com/h', signingSecretId: SECRET_VAULT_DOWN }, as(admin)))).code).toBe('EXTERNAL_SERVICE_ERROR');
    // An admin whose own vault does not hold that secret (the reveal acts for the creator).
    const otherAdmin: Principal = { ...admin, id: 'user-admin-2', name: 'admin2' };
    expect((await failure(client.createAlertWebhook({ url: 'https://public.example.com/h', signingSecretId: SECRET_OK }, as(otherAdmin)))).code).toBe('VALIDATION_ERROR');
  });

  it('caps the number of webhooks', async () => {
    for (let i = 0; i < 6; i += 1) await webhook();
    expect((await failure(webhook())).code).toBe('CONFLICT');
  });

  it('deletes a webhook: gone from the list, its pending deliveries given up, no new ones', async () => {
    const w = await webhook();
    await createAlertRepository(em()).raise([alert('del-1')]);
    await client.deleteAlertWebhook({ id: w.id }, as(admin));
    expect((await client.listAlertWebhooks({}, as(admin))).items).toEqual([]);
    expect(await query(db.url, 'select status, last_error from scheduler.alert_deliveries')).toEqual([{ status: 'failed', last_error: 'webhook deleted' }]);
    await createAlertRepository(em()).raise([alert('del-2')]);
    expect(await query(db.url, 'select 1 from scheduler.alert_deliveries')).toHaveLength(1);
    for (const id of [w.id, 'nope', '00000000-0000-4000-8000-000000000000']) {
      expect((await failure(client.deleteAlertWebhook({ id }, as(admin)))).code).toBe('NOT_FOUND');
    }
  });
});
