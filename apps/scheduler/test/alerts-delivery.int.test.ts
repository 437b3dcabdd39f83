import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConnectError, Code } from '@connectrpc/connect';
import { generateWebhookSecret, parseAllowList } from '@csda/net';
import { migrate, openDatabase, type MikroORM } from '@csda/service-kit';
import { adminUrl, query } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertDeliveryConfig } from '../src/alerts/alert-config.ts';
import { createDeliveryRepository } from '../src/alerts/alert-delivery.repository.ts';
import { startAlertDelivery, type AlertDelivery } from '../src/alerts/alert-delivery.ts';
import { createAlertHttp } from '../src/alerts/alert-http.ts';
import { createAlertRepository, type AlertInput } from '../src/alerts/alert.repository.ts';
import type { RevealSigningSecret } from '../src/alerts/alert.types.ts';
import { Migration20261122000000Init } from '../src/migrations/Migration20261122000000-init.ts';
import { Migration20261203010000Alerts } from '../src/migrations/Migration20261203010000-alerts.ts';

const SIGNING_SECRET = generateWebhookSecret();
const SECRET_ID = '11111111-1111-4111-8111-111111111111';
const ADMIN = { id: 'user-admin', name: 'admin' };

/** A database of its own (the scheduler needs no extension, so not createTestDatabase, which also wants pgvector). */
async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `csda_t_sched_alert_delivery_${randomBytes(4).toString('hex')}`;
  await query(adminUrl(), `create database "${name}"`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => void (await query(adminUrl(), `drop database if exists "${name}" with (force)`)) };
}

/** A self-signed certificate for 127.0.0.1, made for this run. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'csda-alerts-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Received {
  path: string;
  id: string;
  timestamp: string;
  body: string;
  verified: boolean;
}

/** A webhook receiver on 127.0.0.1 that verifies each request with the standardwebhooks library. */
async function startReceiver(tls: { key: string; cert: string }) {
  const received: Received[] = [];
  let connections = 0;
  let respond: (r: Received, nth: number) => { status: number; headers?: Record<string, string>; delayMs?: number } = () => ({ status: 204 });
  const verifier = new Webhook(SIGNING_SECRET);
  const server: Server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        verifier.verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const r: Received = { path: req.url ?? '', id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), body, verified };
      received.push(r);
      const answer = respond(r, received.filter((x) => x.id === r.id).length);
      setTimeout(() => {
        res.writeHead(verified ? answer.status : 401, answer.headers);
        res.end('ok');
      }, answer.delayMs ?? 0);
    });
  });
  server.on('secureConnection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path: string) => `https://127.0.0.1:${port}${path}`,
    received,
    connections: () => connections,
    answer(fn: typeof respond) {
      respond = fn;
    },
    reset() {
      received.length = 0;
      connections = 0;
      respond = () => ({ status: 204 });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const until = async (check: () => Promise<boolean>, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('alert webhook delivery', () => {
  const tls = selfSignedCertificate();
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let orm: MikroORM;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => { logLines.push(chunk.toString()); done(); } }));
  const em = () => orm.em.fork() as EntityManager;
  const loops: AlertDelivery[] = [];
  let reveals = 0;
  const reveal: RevealSigningSecret = async ({ signingSecretId, owner }) => {
    reveals += 1;
    if (signingSecretId !== SECRET_ID || owner.id !== ADMIN.id) throw new ConnectError('Secret not found', Code.NotFound);
    return SIGNING_SECRET;
  };
  const config = (over: Partial<AlertDeliveryConfig> = {}): AlertDeliveryConfig => ({ backoffMs: [50, 50], timeoutMs: 5_000, pollMs: 25, concurrency: 8, secretCacheMs: 60_000, ...over });
  const trusting = createAlertHttp({ ALERT_WEBHOOK_ALLOW: parseAllowList('127.0.0.1'), ALERT_WEBHOOK_CA: tls.cert });
  const start = (over: Partial<AlertDeliveryConfig> = {}, http = trusting) => {
    const loop = startAlertDelivery({ em, logger, http, revealSigningSecret: reveal, config: config(over) });
    loops.push(loop);
    return loop;
  };
  const webhook = (url: string, signingSecretId = SECRET_ID) =>
    createAlertRepository(em()).createWebhook({ url, kinds: [], signingSecretId, description: '', createdBy: ADMIN.id, createdByName: ADMIN.name });
  let n = 0;
  const raise = async (count = 1): Promise<string[]> => {
    const inputs: AlertInput[] = Array.from({ length: count }, () => {
      n += 1;
      return { dedupeKey: `rotation_failed:job-${n}`, kind: 'rotation_failed', severity: 'critical', ownerId: 'user-alice', resourceType: 'secret', resourceId: `secret-${n}`, message: `Rotation of secret secret-${n} failed` };
    });
    await createAlertRepository(em()).raise(inputs);
    const rows = await query<{ id: string }>(db.url, 'select id from scheduler.alerts where dedupe_key = any($1) order by dedupe_key', [inputs.map((i) => i.dedupeKey)]);
    return rows.map((r) => r.id);
  };
  const deliveries = () => query<{ id: string; status: string; attempts: number; last_status: number | null; last_error: string | null }>(
    db.url, 'select id, status, attempts, last_status, last_error from scheduler.alert_deliveries order by created_at, id');

  beforeAll(async () => {
    db = await createDatabase();
    const migrations = [
      { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
      { name: 'Migration20261203010000-alerts', class: Migration20261203010000Alerts },
    ];
    orm = await openDatabase({ url: db.url, schema: 'scheduler', entities: [], migrations, logger: pino({ level: 'silent' }) });
    await migrate(orm, db.url, 'scheduler');
    receiver = await startReceiver(tls);
  });

  afterAll(async () => {
    await Promise.all(loops.map((l) => l.stop()));
    await trusting.close();
    await receiver?.close();
    await orm?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await query(db.url, 'truncate scheduler.alert_deliveries, scheduler.alerts, scheduler.alert_webhooks');
    receiver.reset();
    reveals = 0;
  });

  it('POSTs the alert signed per Standard Webhooks, verified by the receiver, webhook-id = delivery id', async () => {
    await webhook(receiver.url('/alerts'));
    const [alertId] = await raise();
    start();
    await until(async () => (await deliveries())[0]?.status === 'delivered');
    const [delivery] = await deliveries();
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, last_status: 204, last_error: null });
    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    expect(got).toMatchObject({ path: '/alerts', id: delivery!.id, verified: true });
    expect(Math.abs(Number(got!.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    const body = JSON.parse(got!.body) as { type: string; timestamp: string; data: { alert: Record<string, string> } };
    expect(body).toEqual({
      type: 'alert.raised',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: { alert: { id: alertId, kind: 'rotation_failed', severity: 'critical', owner_id: 'user-alice', resource_type: 'secret', resource_id: expect.stringMatching(/^secret-/), message: expect.any(String), created_at: body.timestamp } },
    });
    // A tampered body does not verify with the same headers: the receiver's check is real.
    expect(() => new Webhook(SIGNING_SECRET).verify(got!.body.replace('critical', 'info'), { 'webhook-id': got!.id, 'webhook-timestamp': got!.timestamp, 'webhook-signature': 'v1,AAAA' })).toThrow();
  });

  it('retries a 500 with back-off and delivers on the third attempt with the same webhook-id', async () => {
    await webhook(receiver.url('/flaky'));
    await raise();
    receiver.answer((_r, nth) => ({ status: nth < 3 ? 500 : 200 }));
    start({ backoffMs: [100, 100, 100] });
    await until(async () => (await deliveries())[0]?.status === 'delivered');
    const [delivery] = await deliveries();
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 3, last_status: 200, last_error: null });
    expect(receiver.received.map((r) => [r.id, r.verified])).toEqual([[delivery!.id, true], [delivery!.id, true], [delivery!.id, true]]);
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    expect(reveals).toBe(1);
  });

  it('fails a delivery after its last retry and records why', async () => {
    await webhook(receiver.url('/down'));
    await raise();
    receiver.answer(() => ({ status: 503 }));
    start({ backoffMs: [20] });
    await until(async () => (await deliveries())[0]?.status === 'failed');
    expect((await deliveries())[0]).toMatchObject({ status: 'failed', attempts: 2, last_status: 503, last_error: 'HTTP 503' });
    expect(receiver.received).toHaveLength(2);
  });

  it('does not follow a redirect: the 302 is the answer, its target is never requested', async () => {
    await webhook(receiver.url('/moved'));
    await raise();
    receiver.answer((r) => (r.path === '/moved' ? { status: 302, headers: { location: receiver.url('/elsewhere') } } : { status: 200 }));
    start({ backoffMs: [] });
    await until(async () => (await deliveries())[0]?.status === 'failed');
    expect((await deliveries())[0]).toMatchObject({ status: 'failed', attempts: 1, last_status: 302, last_error: 'redirect not followed (HTTP 302)' });
    expect(receiver.received.map((r) => r.path)).toEqual(['/moved']);
  });

  it('refuses a target that is not allow-listed, records it failed at once, and never connects', async () => {
    await webhook(receiver.url('/private'));
    await raise();
    const guarded = createAlertHttp({ ALERT_WEBHOOK_ALLOW: parseAllowList(''), ALERT_WEBHOOK_CA: tls.cert });
    try {
      start({ backoffMs: [20, 20] }, guarded);
      await until(async () => (await deliveries())[0]?.status === 'failed');
      const [delivery] = await deliveries();
      expect(delivery).toMatchObject({ status: 'failed', attempts: 1, last_status: null });
      expect(delivery!.last_error).toMatch(/^refused by the egress guard: .*127\.0\.0\.1/);
      expect(delivery!.last_error).not.toContain('/private');
      expect(receiver.connections()).toBe(0);
      expect(receiver.received).toHaveLength(0);
    } finally {
      await Promise.all(loops.splice(0).map((l) => l.stop()));
      await guarded.close();
    }
  });

  it('retries while the signing secret cannot be revealed, naming the secret id, never a value', async () => {
    await webhook(receiver.url('/nosecret'), '99999999-9999-4999-8999-999999999999');
    await raise();
    start({ backoffMs: [20] });
    await until(async () => (await deliveries())[0]?.status === 'failed');
    expect((await deliveries())[0]).toMatchObject({ attempts: 2, last_error: 'signing secret 99999999-9999-4999-8999-999999999999 unavailable (NotFound)' });
    expect(receiver.connections()).toBe(0);
  });

  it('sends each delivery once with two delivery loops (replicas) claiming side by side', async () => {
    await webhook(receiver.url('/a'));
    await webhook(receiver.url('/b'));
    await raise(30);
    receiver.answer(() => ({ status: 200, delayMs: 15 }));
    start({ concurrency: 4 });
    start({ concurrency: 4 });
    await until(async () => (await deliveries()).every((d) => d.status === 'delivered'), 30_000);
    const rows = await deliveries();
    expect(rows).toHaveLength(60);
    expect(rows.every((d) => d.attempts === 1)).toBe(true);
    const ids = receiver.received.map((r) => r.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids)).toEqual(new Set(rows.map((d) => d.id)));
    expect(receiver.received.every((r) => r.verified)).toBe(true);
  });

  it('a slow receiver holds one slot: the other deliveries go out meanwhile', async () => {
    await createAlertRepository(em()).createWebhook({ url: receiver.url('/slow'), kinds: ['secret_expired'], signingSecretId: SECRET_ID, description: '', createdBy: ADMIN.id, createdByName: ADMIN.name });
    await webhook(receiver.url('/fast'));
    await createAlertRepository(em()).raise([{ dedupeKey: 'secret_expired:s:1', kind: 'secret_expired', severity: 'critical', ownerId: 'user-alice', resourceType: 'secret', resourceId: 's', message: 'expired' }]);
    await raise(6);
    receiver.answer((r) => (r.path === '/slow' ? { status: 200, delayMs: 3_000 } : { status: 200 }));
    start({ concurrency: 3 });
    await until(async () => receiver.received.filter((r) => r.path === '/fast').length === 7, 2_500);
    expect(receiver.received.map((r) => r.path).filter((p) => p === '/slow')).toEqual(['/slow']);
    const rows = await query<{ url: string; status: string }>(db.url, `select w.url, d.status from scheduler.alert_deliveries d join scheduler.alert_webhooks w on w.id = d.webhook_id`);
    expect(rows.filter((r) => r.url.endsWith('/slow')).map((r) => r.status)).toEqual(['pending']);
  });

  it('a claim another replica holds is not sent again, and a lost claim records nothing', async () => {
    await webhook(receiver.url('/lease'));
    const [alertId] = await raise();
    const repo = createDeliveryRepository(em());
    const [claimed] = await repo.claim(10, 60_000);
    expect(claimed).toMatchObject({ attempt: 1, alert: { id: alertId }, webhook: { url: receiver.url('/lease'), deleted: false } });
    expect(await repo.claim(10, 60_000)).toEqual([]);
    // The lease ran out and another replica took it: the first one's late outcome changes nothing.
    await query(db.url, `update scheduler.alert_deliveries set next_attempt_at = now() - interval '1 second'`);
    const [again] = await repo.claim(10, 60_000);
    expect(again?.attempt).toBe(2);
    expect(await repo.record(claimed!.id, 1, { result: 'delivered', status: 200 })).toBe(false);
    expect(await repo.record(again!.id, 2, { result: 'delivered', status: 200 })).toBe(true);
    expect((await deliveries())[0]).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('stops promptly with a request in flight: the delivery stays pending and the next replica sends it (same id)', async () => {
    await webhook(receiver.url('/slow'));
    await raise();
    receiver.answer((_r, nth) => (nth === 1 ? { status: 200, delayMs: 4_000 } : { status: 200 }));
    const loop = start();
    await until(async () => receiver.received.length === 1);
    const began = Date.now();
    await loop.stop();
    expect(Date.now() - began).toBeLessThan(2_000);
    expect((await deliveries())[0]).toMatchObject({ status: 'pending', attempts: 1, last_error: 'interrupted by shutdown' });
    start();
    await until(async () => (await deliveries())[0]?.status === 'delivered');
    expect((await deliveries())[0]).toMatchObject({ attempts: 2 });
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1);
  });

  it('never writes the signing secret to the log', () => {
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join('\n');
    expect(all).not.toContain(SIGNING_SECRET);
    expect(all).not.toContain(SIGNING_SECRET.slice('whsec_'.length));
  });
});
