import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type HandlerContext } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { NotFoundError, ValidationError, toConnectError } from '@csda/errors';
import {
  AlertSchema,
  AlertWebhookSchema,
  JobSchema,
  ScheduleRunSchema,
  ScheduleSchema,
  SchedulerService,
} from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineAdminToken, offlineUserToken } from './support/offline-app.ts';

const SECRET = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';
const SCHEDULE = '5e7f3a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** What the scheduler saw of the last call: the request and the principal the gateway's token named. */
interface Seen {
  method: string;
  req: unknown;
  principal: Principal;
}

/**
 * The schedules, jobs and alerts routes against a local SchedulerService
 * speaking the real protocol (Connect over h2c, internal tokens verified
 * with the gateway's key), standing in for apps/scheduler.
 */
describe('schedules, jobs and alerts REST ↔ SchedulerService', () => {
  const seen: Seen[] = [];
  let failWith: Error | undefined;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let admin: string;
  let alice: string;

  const record = (method: string, req: unknown, ctx: HandlerContext) => {
    seen.push({ method, req, principal: principalFrom(ctx) });
    if (failWith) throw failWith;
  };
  const last = () => seen.at(-1)!;
  const schedule = (over: Omit<MessageInitShape<typeof ScheduleSchema>, '$typeName'> = {}) =>
    create(ScheduleSchema, {
      id: SCHEDULE,
      ownerId: ALICE,
      name: 'nightly',
      cron: '0 3 * * *',
      timeZone: 'Europe/Berlin',
      target: { kind: { case: 'rotateSecret', value: { secretId: SECRET } } },
      enabled: true,
      misfirePolicy: 'skip',
      overlapPolicy: 'forbid',
      nextRunAtMs: BigInt(T0 + 3_600_000),
      createdAtMs: BigInt(T0),
      updatedAtMs: BigInt(T0),
      ...over,
    });

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(SchedulerService, 'scheduler', publicKeyOf(), {
      createSchedule: (req, ctx) => (record('createSchedule', req, ctx), { schedule: schedule({ name: req.name, cron: req.cron, timeZone: req.timeZone }) }),
      listSchedules: (req, ctx) => (record('listSchedules', req, ctx), { items: [schedule(), schedule({ enabled: false, nextRunAtMs: 0n, pausedReason: '' })], total: 7n }),
      getSchedule: (req, ctx) => (record('getSchedule', req, ctx), { schedule: schedule({ pausedReason: 'owner_inactive', nextRunAtMs: 0n }) }),
      updateSchedule: (req, ctx) => (record('updateSchedule', req, ctx), { schedule: schedule() }),
      deleteSchedule: (req, ctx) => (record('deleteSchedule', req, ctx), {}),
      listScheduleRuns: (req, ctx) => (
        record('listScheduleRuns', req, ctx),
        {
          items: [
            create(ScheduleRunSchema, { id: 'r1', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0), firedAtMs: BigInt(T0 + 40), status: 'succeeded', jobId: `schedule:${SCHEDULE}:${T0}`, finishedAtMs: BigInt(T0 + 900) }),
            create(ScheduleRunSchema, { id: 'r2', scheduleId: SCHEDULE, scheduledForMs: BigInt(T0 - 86_400_000), status: 'skipped', detail: 'previous run unfinished' }),
          ],
          total: 2n,
        }
      ),
      listJobs: (req, ctx) => (
        record('listJobs', req, ctx),
        { items: [create(JobSchema, { id: `rotate:${SECRET}:${T0}`, type: 'rotate_secret', resourceType: 'secret', resourceId: SECRET, ownerId: ALICE, status: 'retrying', attempts: 2, maxAttempts: 4, lastError: 'connection refused', trigger: 'due', createdAtMs: BigInt(T0), startedAtMs: BigInt(T0 + 5), nextAttemptAtMs: BigInt(T0 + 300_000) })], total: 1n }
      ),
      getJob: (req, ctx) => (record('getJob', req, ctx), { job: create(JobSchema, { id: req.id, type: 'rotate_secret', status: 'succeeded', createdAtMs: BigInt(T0), finishedAtMs: BigInt(T0 + 10), scheduleId: SCHEDULE, trigger: 'schedule' }) }),
      listAlerts: (req, ctx) => (
        record('listAlerts', req, ctx),
        { items: [create(AlertSchema, { id: 'a1', kind: 'rotation_due', severity: 'warning', ownerId: ALICE, resourceType: 'secret', resourceId: SECRET, message: 'Secret db is due for rotation', createdAtMs: BigInt(T0) })], total: 1n }
      ),
      ackAlert: (req, ctx) => (record('ackAlert', req, ctx), { alert: create(AlertSchema, { id: req.id, kind: 'rotation_due', createdAtMs: BigInt(T0), acknowledgedAtMs: BigInt(T0 + 60_000), acknowledgedBy: ALICE }) }),
      listAlertWebhooks: (req, ctx) => (
        record('listAlertWebhooks', req, ctx),
        { items: ['w1', 'w2', 'w3'].map((id) => create(AlertWebhookSchema, { id, url: `https://hooks.example.test/${id}`, signingSecretId: SECRET, createdBy: 'admin', createdAtMs: BigInt(T0) })) }
      ),
      createAlertWebhook: (req, ctx) => (record('createAlertWebhook', req, ctx), { webhook: create(AlertWebhookSchema, { id: 'w9', url: req.url, kinds: req.kinds, signingSecretId: req.signingSecretId, description: req.description, createdBy: 'user-1', createdAtMs: BigInt(T0) }) }),
      deleteAlertWebhook: (req, ctx) => (record('deleteAlertWebhook', req, ctx), {}),
    });
    ({ app } = await buildOfflineApp({ signer, scheduler: createServiceClient(SchedulerService, backend.url), bodyLimitBytes: 65_536 }));
    api = client(app);
    admin = await offlineAdminToken();
    alice = await offlineUserToken({ id: ALICE, username: 'alice' });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  beforeEach(() => {
    seen.length = 0;
    failWith = undefined;
  });

  describe('schedules', () => {
    it('creates one with the target as the proto oneof, defaults filled, as the caller', async () => {
      const res = await api('POST', '/api/v1/schedules', { token: alice, body: { name: 'nightly', cron: '0 3 * * *', time_zone: 'Europe/Berlin', target: { type: 'rotate_secret', secret_id: SECRET } } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const { req, principal } = last();
      expect(principal).toMatchObject({ kind: 'user', id: ALICE, name: 'alice', roles: ['USER'] });
      expect(req).toMatchObject({ name: 'nightly', description: '', cron: '0 3 * * *', timeZone: 'Europe/Berlin', enabled: true, misfirePolicy: 'skip', overlapPolicy: 'forbid', target: { kind: { case: 'rotateSecret', value: { secretId: SECRET } } } });
      expect(res.body).toEqual({
        id: SCHEDULE,
        owner_id: ALICE,
        name: 'nightly',
        description: '',
        cron: '0 3 * * *',
        time_zone: 'Europe/Berlin',
        target: { type: 'rotate_secret', secret_id: SECRET },
        enabled: true,
        misfire_policy: 'skip',
        overlap_policy: 'forbid',
        next_run_at: new Date(T0 + 3_600_000).toISOString(),
        last_run_at: null,
        last_run_status: null,
        paused_reason: null,
        created_at: new Date(T0).toISOString(),
        updated_at: new Date(T0).toISOString(),
      });
    });

    it('refuses malformed bodies at the edge, naming each field, without calling the scheduler', async () => {
      const base = { name: 'n', cron: '@daily', target: { type: 'rotate_secret', secret_id: SECRET } };
      const cases: [unknown, string][] = [
        [{ ...base, target: undefined }, 'target'],
        [{ ...base, target: { type: 'delete_everything', tool_id: SECRET } }, 'target'],
        [{ ...base, target: { type: 'rotate_secret', secret_id: 'not-a-uuid' } }, 'target.secret_id'],
        [{ ...base, target: { type: 'rotate_secret', secret_id: SECRET, extra: 1 } }, 'target'],
        [{ ...base, misfire_policy: 'always' }, 'misfire_policy'],
        [{ ...base, overlap_policy: 'queue' }, 'overlap_policy'],
        [{ ...base, cron: '' }, 'cron'],
        [{ ...base, cron: '* '.repeat(100) }, 'cron'],
        [{ ...base, name: '   ' }, 'name'],
        [{ ...base, time_zone: 'x'.repeat(65) }, 'time_zone'],
        [{ ...base, owner_id: ALICE }, 'body'],
        [{ ...base, enabled: 'yes' }, 'enabled'],
      ];
      for (const [body, field] of cases) {
        const res = await api('POST', '/api/v1/schedules', { token: alice, body: body as object });
        expect(res.status, JSON.stringify(body)).toBe(422);
        expect(res.body?.error.code).toBe('VALIDATION_ERROR');
        expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(body)).toContain(field);
      }
      expect(seen).toEqual([]);
    });

    it("passes the scheduler's own validation (cron, time zone) through as 422 naming the field", async () => {
      failWith = toConnectError(new ValidationError('Invalid time zone', { time_zone: 'an IANA time zone' }), false);
      const res = await api('POST', '/api/v1/schedules', { token: alice, body: { name: 'n', cron: '0 3 * * *', time_zone: 'Mars/Olympus', target: { type: 'rotate_secret', secret_id: SECRET } } });
      expect(res.status).toBe(422);
      expect(res.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { time_zone: 'an IANA time zone' } });
    });

    it('lists with filters and pagination as {items,total,limit,offset}', async () => {
      const res = await api('GET', '/api/v1/schedules?enabled=false&target_type=rotate_secret&limit=2&offset=4', { token: alice });
      expect(res.status).toBe(200);
      expect(last().req).toMatchObject({ limit: 2, offset: 4, enabled: 'false', targetType: 'rotate_secret' });
      expect(res.body).toMatchObject({ total: 7, limit: 2, offset: 4 });
      expect(res.body?.items[1]).toMatchObject({ enabled: false, next_run_at: null, paused_reason: null });
      await api('GET', '/api/v1/schedules', { token: alice });
      expect(last().req).toMatchObject({ limit: 50, offset: 0, enabled: '', targetType: '' });
      for (const q of ['enabled=maybe', 'target_type=shell', 'limit=0', 'limit=201', 'offset=-1']) {
        expect((await api('GET', `/api/v1/schedules?${q}`, { token: alice })).status, q).toBe(422);
      }
    });

    it('gets one (paused_reason shown), patches only what is given, deletes', async () => {
      expect((await api('GET', `/api/v1/schedules/${SCHEDULE}`, { token: alice })).body).toMatchObject({ paused_reason: 'owner_inactive', next_run_at: null });
      expect(last().req).toMatchObject({ id: SCHEDULE });

      const patched = await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { enabled: false, cron: '@hourly' } });
      expect(patched.status).toBe(200);
      const req = last().req as Record<string, unknown>;
      expect(req).toMatchObject({ id: SCHEDULE, enabled: false, cron: '@hourly' });
      for (const unset of ['name', 'description', 'timeZone', 'misfirePolicy', 'overlapPolicy', 'target']) expect(req[unset], unset).toBeUndefined();

      await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { target: { type: 'rotate_secret', secret_id: SECRET } } });
      expect(last().req).toMatchObject({ target: { kind: { case: 'rotateSecret', value: { secretId: SECRET } } } });
      expect((await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { owner_id: ALICE } })).status).toBe(422);
      expect((await api('PATCH', `/api/v1/schedules/${SCHEDULE}`, { token: alice, body: { next_run_at: new Date().toISOString() } })).status).toBe(422);

      const deleted = await api('DELETE', `/api/v1/schedules/${SCHEDULE}`, { token: alice });
      expect(deleted.status).toBe(204);
      expect(last().method).toBe('deleteSchedule');
    });

    it('lists runs with ISO times, null for unset instants and job ids', async () => {
      const res = await api('GET', `/api/v1/schedules/${SCHEDULE}/runs?limit=10`, { token: alice });
      expect(res.status).toBe(200);
      expect(last().req).toMatchObject({ scheduleId: SCHEDULE, limit: 10, offset: 0 });
      expect(res.body?.items).toEqual([
        { id: 'r1', schedule_id: SCHEDULE, scheduled_for: new Date(T0).toISOString(), fired_at: new Date(T0 + 40).toISOString(), status: 'succeeded', job_id: `schedule:${SCHEDULE}:${T0}`, detail: '', finished_at: new Date(T0 + 900).toISOString() },
        { id: 'r2', schedule_id: SCHEDULE, scheduled_for: new Date(T0 - 86_400_000).toISOString(), fired_at: null, status: 'skipped', job_id: null, detail: 'previous run unfinished', finished_at: null },
      ]);
    });

    it('maps the scheduler\'s NOT_FOUND (someone else\'s schedule) and refuses ids that are not UUIDs', async () => {
      failWith = toConnectError(new NotFoundError('schedule', SCHEDULE), false);
      const res = await api('GET', `/api/v1/schedules/${SCHEDULE}`, { token: alice });
      expect(res.status).toBe(404);
      expect(res.body?.error).toMatchObject({ code: 'NOT_FOUND', details: { resource: 'schedule', identifier: SCHEDULE } });
      failWith = undefined;
      seen.length = 0;
      for (const id of ['42', '..%2F..%2Fjobs', `${SCHEDULE}x`]) expect((await api('GET', `/api/v1/schedules/${id}`, { token: alice })).status, id).toBe(422);
      expect(seen).toEqual([]);
    });
  });

  describe('jobs', () => {
    it('lists with type, status, resource and time filters (ISO in, ms to the scheduler)', async () => {
      const since = '2026-12-01T00:00:00.000Z';
      const until = '2026-12-02T00:00:00+01:00';
      const res = await api('GET', `/api/v1/jobs?type=rotate_secret&status=retrying&resource_id=${SECRET}&since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}&limit=5`, { token: alice });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(last().req).toMatchObject({ type: 'rotate_secret', status: 'retrying', resourceId: SECRET, sinceMs: BigInt(Date.parse(since)), untilMs: BigInt(Date.parse(until)), limit: 5, offset: 0 });
      expect(last().principal.id).toBe(ALICE);
      expect(res.body).toEqual({
        items: [
          {
            id: `rotate:${SECRET}:${T0}`,
            type: 'rotate_secret',
            resource_type: 'secret',
            resource_id: SECRET,
            owner_id: ALICE,
            status: 'retrying',
            attempts: 2,
            max_attempts: 4,
            last_error: 'connection refused',
            detail: '',
            trigger: 'due',
            schedule_id: null,
            created_at: new Date(T0).toISOString(),
            started_at: new Date(T0 + 5).toISOString(),
            finished_at: null,
            updated_at: null,
            next_attempt_at: new Date(T0 + 300_000).toISOString(),
          },
        ],
        total: 1,
        limit: 5,
        offset: 0,
      });
      await api('GET', '/api/v1/jobs', { token: alice });
      expect(last().req).toMatchObject({ type: '', status: '', resourceId: '', sinceMs: 0n, untilMs: 0n });
    });

    it('refuses bad filters: unknown status, malformed times, until not after since', async () => {
      for (const q of ['status=done', 'since=yesterday', 'until=2026-13-01T00:00:00Z', 'since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', 'type=Rotate-Secret', `resource_id=${'x'.repeat(201)}`]) {
        const res = await api('GET', `/api/v1/jobs?${q}`, { token: alice });
        expect(res.status, q).toBe(422);
        expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      }
      const inverted = await api('GET', '/api/v1/jobs?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', { token: alice });
      expect(Object.keys(inverted.body?.error.details)).toContain('until');
      expect(seen).toEqual([]);
    });

    it('routes job ids with colons, raw or percent-encoded, to the scheduler unchanged', async () => {
      const id = `rotate:${SECRET}:${T0}`;
      for (const path of [id, encodeURIComponent(id)]) {
        const res = await api('GET', `/api/v1/jobs/${path}`, { token: alice });
        expect(res.status, path).toBe(200);
        expect(last().req).toMatchObject({ id });
        expect(res.body).toMatchObject({ id, status: 'succeeded', schedule_id: SCHEDULE, trigger: 'schedule', started_at: null, finished_at: new Date(T0 + 10).toISOString() });
      }
    });

    it('refuses job ids that could leave their path segment or are not ids at all', async () => {
      for (const path of ['rotate%2F..%2F..%2Fschedules', '..%2Fx', '%2e%2e', 'a%20b', 'x%00y', ':leading', 'x'.repeat(201)]) {
        const res = await api('GET', `/api/v1/jobs/${path}`, { token: alice });
        expect([404, 422], path).toContain(res.status);
        expect(res.body?.error.code, path).toMatch(/VALIDATION_ERROR|NOT_FOUND/);
      }
      expect(seen).toEqual([]);
    });
  });

  describe('alerts', () => {
    it('lists with kind and acknowledged filters; acknowledging returns the alert', async () => {
      const res = await api('GET', '/api/v1/alerts?kind=rotation_due&acknowledged=false', { token: alice });
      expect(res.status).toBe(200);
      expect(last().req).toMatchObject({ kind: 'rotation_due', acknowledged: 'false', limit: 50, offset: 0 });
      expect(res.body?.items[0]).toEqual({
        id: 'a1',
        kind: 'rotation_due',
        severity: 'warning',
        owner_id: ALICE,
        resource_type: 'secret',
        resource_id: SECRET,
        message: 'Secret db is due for rotation',
        created_at: new Date(T0).toISOString(),
        acknowledged: false,
        acknowledged_at: null,
        acknowledged_by: null,
      });
      for (const q of ['kind=disk_full', 'acknowledged=yes']) expect((await api('GET', `/api/v1/alerts?${q}`, { token: alice })).status, q).toBe(422);

      const alertId = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
      const ack = await api('POST', `/api/v1/alerts/${alertId}/ack`, { token: alice });
      expect(ack.status).toBe(200);
      expect(last().req).toMatchObject({ id: alertId });
      expect(ack.body).toMatchObject({ id: alertId, acknowledged: true, acknowledged_at: new Date(T0 + 60_000).toISOString(), acknowledged_by: ALICE });
      expect((await api('POST', '/api/v1/alerts/a1/ack', { token: alice })).status).toBe(422);
    });

    it('webhooks are alerts:admin only: a user is refused before the scheduler is called', async () => {
      expect((await api('GET', '/api/v1/alerts/webhooks', { token: alice })).status).toBe(403);
      expect((await api('POST', '/api/v1/alerts/webhooks', { token: alice, body: { url: 'https://hooks.example.test/x', signing_secret_id: SECRET } })).status).toBe(403);
      expect((await api('DELETE', `/api/v1/alerts/webhooks/${SECRET}`, { token: alice })).status).toBe(403);
      expect(seen).toEqual([]);
    });

    it('an admin lists (paged at the edge), creates and deletes webhooks', async () => {
      const list = await api('GET', '/api/v1/alerts/webhooks?limit=2&offset=1', { token: admin });
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ total: 3, limit: 2, offset: 1 });
      expect(list.body?.items.map((w: { id: string }) => w.id)).toEqual(['w2', 'w3']);

      const created = await api('POST', '/api/v1/alerts/webhooks', { token: admin, body: { url: 'https://hooks.example.test/alerts', kinds: ['rotation_failed', 'secret_expired'], signing_secret_id: SECRET, description: 'ops' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(last().req).toMatchObject({ url: 'https://hooks.example.test/alerts', kinds: ['rotation_failed', 'secret_expired'], signingSecretId: SECRET, description: 'ops' });
      expect(last().principal).toMatchObject({ kind: 'user', roles: ['ADMIN'] });
      expect(created.body).toEqual({ id: 'w9', url: 'https://hooks.example.test/alerts', kinds: ['rotation_failed', 'secret_expired'], signing_secret_id: SECRET, created_by: 'user-1', created_at: new Date(T0).toISOString(), description: 'ops' });

      expect((await api('DELETE', `/api/v1/alerts/webhooks/${SECRET}`, { token: admin })).status).toBe(204);
      expect(last()).toMatchObject({ method: 'deleteAlertWebhook', req: { id: SECRET } });
    });

    it('refuses webhook bodies with credentials in the URL, other schemes, unknown or repeated kinds', async () => {
      seen.length = 0;
      const cases: [object, string][] = [
        [{ url: 'https://user:pw@hooks.example.test/x', signing_secret_id: SECRET }, 'url'],
        [{ url: 'ftp://hooks.example.test/x', signing_secret_id: SECRET }, 'url'],
        [{ url: 'not a url', signing_secret_id: SECRET }, 'url'],
        [{ url: `https://hooks.example.test/${'a'.repeat(2_100)}`, signing_secret_id: SECRET }, 'url'],
        [{ url: 'https://hooks.example.test/x', signing_secret_id: 'secret' }, 'signing_secret_id'],
        [{ url: 'https://hooks.example.test/x', signing_secret_id: SECRET, kinds: ['disk_full'] }, 'kinds'],
        [{ url: 'https://hooks.example.test/x', signing_secret_id: SECRET, kinds: ['rotation_due', 'rotation_due'] }, 'kinds'],
        [{ url: 'https://hooks.example.test/x', signing_secret_id: SECRET, secret: 'whsec_x' }, 'body'],
      ];
      for (const [body, field] of cases) {
        const res = await api('POST', '/api/v1/alerts/webhooks', { token: admin, body });
        expect(res.status, JSON.stringify(body)).toBe(422);
        expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(body)).toContain(field);
      }
      expect(seen).toEqual([]);
    });
  });

  describe('permissions and failures', () => {
    it('needs a token (401) and the route\'s permission (403); the scheduler is never reached', async () => {
      const none = await offlineUserToken({ id: ALICE, username: 'alice', roles: ['READER'], permissions: ['secrets:read'] });
      const body = { name: 'n', cron: '@daily', target: { type: 'rotate_secret', secret_id: SECRET } };
      for (const [method, url] of [
        ['GET', '/api/v1/schedules'],
        ['GET', '/api/v1/jobs'],
        ['GET', `/api/v1/jobs/rotate:${SECRET}:1`],
        ['GET', '/api/v1/alerts'],
        ['POST', `/api/v1/alerts/${SECRET}/ack`],
      ] as const) {
        expect((await api(method, url)).status, `${method} ${url}`).toBe(401);
        expect((await api(method, url, { token: none })).status, `${method} ${url}`).toBe(403);
      }
      expect((await api('POST', '/api/v1/schedules', { body })).status).toBe(401);
      expect((await api('POST', '/api/v1/schedules', { token: none, body })).status).toBe(403);
      const readOnly = await offlineUserToken({ id: ALICE, username: 'alice', permissions: ['schedules:read'] });
      expect((await api('DELETE', `/api/v1/schedules/${SCHEDULE}`, { token: readOnly })).status).toBe(403);
      expect(seen).toEqual([]);
    });

    it('the scheduler refusing the caller is 403, its internal errors a generic 500, and it being down a 503', async () => {
      failWith = new ConnectError('Permission schedules:write required', Code.PermissionDenied);
      expect((await api('GET', '/api/v1/schedules', { token: alice })).status).toBe(403);
      failWith = new Error('relation "scheduler.jobs" does not exist at /srv/app.ts:12');
      const internal = await api('GET', '/api/v1/jobs', { token: alice });
      expect(internal.status).toBe(500);
      expect(JSON.stringify(internal.body)).not.toMatch(/relation|srv|app\.ts/);

      const down = await buildOfflineApp({ signer: gatewaySigner().signer, scheduler: createServiceClient(SchedulerService, `http://127.0.0.1:${await freePort()}`) });
      try {
        const res = await client(down.app)('GET', '/api/v1/alerts', { token: alice });
        expect(res.status).toBe(503);
        expect(res.body?.error.code).toBe('EXTERNAL_SERVICE_ERROR');
      } finally {
        await down.app.close();
      }
    });

    it("a token the gateway signed for another audience is refused by the scheduler's verifier", async () => {
      const { signer } = gatewaySigner();
      const stranger = createClient(SchedulerService, (await import('@connectrpc/connect-node')).createConnectTransport({ baseUrl: backend.url, httpVersion: '2' }));
      const token = await signer.sign({ kind: 'user', id: ALICE, name: 'alice', roles: ['USER'], permissions: ['schedules:read'] }, 'scheduler');
      await expect(stranger.listSchedules({}, { headers: { 'csda-internal-token': token } })).rejects.toMatchObject({ code: Code.Unauthenticated });
      expect(seen).toEqual([]);
    });
  });

  it('documents every new route in the OpenAPI document, behind bearer auth', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const expected: [string, string][] = [
      ['/api/v1/schedules', 'get'],
      ['/api/v1/schedules', 'post'],
      ['/api/v1/schedules/{id}', 'get'],
      ['/api/v1/schedules/{id}', 'patch'],
      ['/api/v1/schedules/{id}', 'delete'],
      ['/api/v1/schedules/{id}/runs', 'get'],
      ['/api/v1/jobs', 'get'],
      ['/api/v1/jobs/{id}', 'get'],
      ['/api/v1/alerts', 'get'],
      ['/api/v1/alerts/{id}/ack', 'post'],
      ['/api/v1/alerts/webhooks', 'get'],
      ['/api/v1/alerts/webhooks', 'post'],
      ['/api/v1/alerts/webhooks/{id}', 'delete'],
      ['/api/v1/system/queues', 'get'],
    ];
    for (const [path, method] of expected) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
      expect(doc.paths[path][method].security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
    }
    expect(doc.paths['/api/v1/jobs'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['type', 'status', 'resource_id', 'since', 'until', 'limit', 'offset']));
    // The target union is one documented component, used by the request and the response.
    expect(JSON.stringify(doc.paths['/api/v1/schedules'].post.requestBody)).toMatch(/ScheduleTarget|rotate_secret/);
    expect(JSON.stringify(doc.components.schemas)).toContain('"rotate_secret"');
  });
});
