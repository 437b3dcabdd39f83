import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { RotateSecretJobSchema } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import {
  connectNats,
  createLogger,
  createServiceClient,
  ensureStreams,
  openDatabase,
  publishProto,
  type MikroORM,
  type Nats,
} from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace, waitFor, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition } from '../src/definition.ts';
import { withAdvisoryLock } from '../src/background/advisory-lock.ts';
import { createJobQueue, type RotationJobRequest } from '../src/jobs/job-queue.ts';

const logger = createLogger({ service: 'scheduler-test', level: 'silent' });
const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: perms('USER') };
const bob: Principal = { kind: 'user', id: 'user-bob', name: 'bob', roles: ['USER'], permissions: perms('USER') };
const admin: Principal = { kind: 'user', id: 'user-admin', name: 'admin', roles: ['ADMIN'], permissions: perms('ADMIN') };

const job = (i: number, over: Partial<RotationJobRequest> = {}): RotationJobRequest => ({
  jobId: `rotate:00000000-0000-4000-8000-${String(i).padStart(12, '0')}:1700000000000`,
  secretId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  expectedVersion: 1,
  dueAtMs: 1_700_000_000_000,
  ownerId: alice.id,
  trigger: 'due',
  ...over,
});

/** The job queue and job records against real PostgreSQL and JetStream; the EVENTS fold through a real scheduler process. */
describe('scheduler job queue and job records', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let db: TestDatabase;
  const opened: { orm: MikroORM; nats: Nats }[] = [];
  const open = async (ns = namespace) => {
    const orm = await openDatabase({ url: db.url, schema: 'scheduler', entities: definition.entities, migrations: definition.migrations, logger });
    const nats = await connectNats(natsUrl(), 'scheduler-test', ns);
    opened.push({ orm, nats });
    return { orm, nats, logger };
  };
  const streamLastSeq = async (nats: Nats, stream: string) => (await nats.jsm.streams.info(nats.subjects.stream(stream))).state.last_seq;
  const rows = (sql: string, params: unknown[] = []) => query(db.url, sql, params);

  beforeAll(async () => {
    db = await createTestDatabase('scheduler');
    const migrated = await runCommand('scheduler', 'migrate', { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, ...keys.envFor('scheduler') });
    expect(migrated.code, migrated.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const { orm, nats } of opened) {
      await nats.connection.close();
      await orm.close();
    }
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses to run a one-shot before migrate, with a non-zero exit', async () => {
    const fresh = await createTestDatabase('scheduler');
    try {
      const result = await runCommand('scheduler', 'rotate-secrets', { DATABASE_URL: fresh.url, NATS_NAMESPACE: namespace, ...keys.envFor('scheduler'), VAULT_URL: 'http://127.0.0.1:9' });
      expect(result.code).not.toBe(0);
      expect(await query(fresh.url, `select to_regclass('scheduler.jobs') as t`)).toEqual([{ t: null }]);
    } finally {
      await fresh.drop();
    }
  });

  it('enqueues 10,000 rotation jobs in a few seconds, each exactly once although two enqueuers race with the same ids', async () => {
    const a = await open();
    const b = await open();
    const jobs = Array.from({ length: 10_000 }, (_, i) => job(i));
    const before = await streamLastSeq(a.nats, 'JOBS_SECRETS');
    const started = performance.now();
    const [ra, rb] = await Promise.all([createJobQueue({ runtime: a }).enqueueRotations(jobs), createJobQueue({ runtime: b }).enqueueRotations([...jobs].reverse())]);
    const elapsed = performance.now() - started;
    console.log(`enqueued 10,000 jobs from two racing enqueuers in ${Math.round(elapsed)} ms`);
    expect(elapsed).toBeLessThan(20_000);
    expect(ra.created + rb.created).toBe(10_000);
    expect(ra.failed + rb.failed).toBe(0);
    expect((await streamLastSeq(a.nats, 'JOBS_SECRETS')) - before).toBe(10_000);
    const [count] = await rows(`select count(*)::int as n, count(*) filter (where status = 'queued' and published_at is not null)::int as published from scheduler.jobs`);
    expect(count).toEqual({ n: 10_000, published: 10_000 });

    // Enqueued again (the next scan): nothing new recorded, nothing new in the stream.
    const again = await createJobQueue({ runtime: a }).enqueueRotations(jobs.slice(0, 500));
    expect(again.created).toBe(0);
    expect((await streamLastSeq(a.nats, 'JOBS_SECRETS')) - before).toBe(10_000);

    const first = await a.nats.jsm.streams.getMessage(a.nats.subjects.stream('JOBS_SECRETS'), { seq: before + 1 });
    const message = fromBinary(RotateSecretJobSchema, first!.data);
    expect(first!.subject).toBe(a.nats.subjects.subject('csda.jobs.secrets.rotate'));
    expect(first!.header.get('Nats-Msg-Id')).toBe(message.jobId);
    expect(message).toMatchObject({ expectedVersion: 1, dueAtMs: 1_700_000_000_000n });
    expect(message.jobId).toBe(`rotate:${message.secretId}:1700000000000`);
  });

  it('leaves a job queued when its publish fails, and the next sweep publishes it once', async () => {
    const lonely = `${namespace}x`;
    try {
      // A namespace without streams: every publish fails (no stream answers).
      const q = await open(lonely);
      const queue = createJobQueue({ runtime: q });
      const jobs = [job(20_001, { trigger: 'schedule', scheduleId: 'sch-1', scheduleRunId: 'run-1', actingFor: { userId: alice.id, username: 'alice', roles: ['USER'] } }), job(20_002)];
      expect(await queue.enqueueRotations(jobs)).toEqual({ created: 2, published: 0, failed: 2 });
      expect(await rows(`select status, published_at from scheduler.jobs where id = any($1) order by id`, [jobs.map((j) => j.jobId)])).toEqual([
        { status: 'queued', published_at: null },
        { status: 'queued', published_at: null },
      ]);
      await ensureStreams(q.nats);
      // Enqueueing the same ids again publishes the unpublished ones (the next due scan does exactly this).
      expect(await queue.enqueueRotations(jobs.slice(0, 1))).toEqual({ created: 0, published: 1, failed: 0 });
      // The sweep takes the rest; then nothing is left.
      expect(await queue.republishUnpublished(0)).toEqual({ published: 1, failed: 0 });
      expect(await queue.republishUnpublished(0)).toEqual({ published: 0, failed: 0 });
      expect(await streamLastSeq(q.nats, 'JOBS_SECRETS')).toBe(2);
      const msg = await q.nats.jsm.streams.getMessage(q.nats.subjects.stream('JOBS_SECRETS'), { seq: 1 });
      expect(fromBinary(RotateSecretJobSchema, msg!.data)).toMatchObject({ scheduleId: 'sch-1', scheduleRunId: 'run-1', actingFor: { userId: alice.id, username: 'alice', roles: ['USER'] } });
      const [record] = await rows(`select trigger, schedule_id, schedule_run_id from scheduler.jobs where id = $1`, [jobs[0]!.jobId]);
      expect(record).toEqual({ trigger: 'schedule', schedule_id: 'sch-1', schedule_run_id: 'run-1' });
    } finally {
      await deleteNamespace(lonely);
    }
  });

  it('publishes a still-queued job again once its last publish is older than the stream\u2019s de-duplication window', async () => {
    const q = await open();
    const queue = createJobQueue({ runtime: q });
    const stale = job(60_000);
    expect(await queue.enqueueRotations([stale])).toMatchObject({ created: 1, published: 1 });
    expect(await queue.enqueueRotations([stale])).toEqual({ created: 0, published: 0, failed: 0 });
    await rows(`update scheduler.jobs set published_at = now() - interval '26 hours' where id = $1`, [stale.jobId]);
    expect(await queue.republishUnpublished(0)).toEqual({ published: 1, failed: 0 });
    const [row] = await rows(`select published_at > now() - interval '1 minute' as fresh from scheduler.jobs where id = $1`, [stale.jobId]);
    expect(row).toEqual({ fresh: true });
    await rows(`update scheduler.jobs set published_at = now() - interval '26 hours' where id = $1`, [stale.jobId]);
    expect(await queue.enqueueRotations([stale])).toEqual({ created: 0, published: 1, failed: 0 });
    // Not once it has moved on.
    await rows(`update scheduler.jobs set status = 'running', published_at = now() - interval '26 hours' where id = $1`, [stale.jobId]);
    expect(await queue.enqueueRotations([stale])).toEqual({ created: 0, published: 0, failed: 0 });
    expect(await queue.republishUnpublished(0)).toEqual({ published: 0, failed: 0 });
  });

  it('lets one process at a time hold a scan lock, released when its holder finishes or fails', async () => {
    const a = await open();
    const b = await open();
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = withAdvisoryLock(a.orm, 'test-lock', async () => {
      entered();
      await held;
      return 1;
    });
    await inside;
    expect(await withAdvisoryLock(b.orm, 'test-lock', async () => 2)).toEqual({ ran: false });
    expect(await withAdvisoryLock(b.orm, 'other-lock', async () => 3)).toEqual({ ran: true, value: 3 });
    release();
    expect(await first).toEqual({ ran: true, value: 1 });
    await expect(withAdvisoryLock(b.orm, 'test-lock', async () => Promise.reject(new Error('scan failed')))).rejects.toThrow('scan failed');
    expect(await withAdvisoryLock(a.orm, 'test-lock', async () => 4)).toEqual({ ran: true, value: 4 });
  });

  describe('through a running scheduler', () => {
    let service: Awaited<ReturnType<typeof startService>>;
    let nats: Nats;
    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const as = async (p: Principal) => ({ headers: principalHeaders(await signer.sign(p, 'scheduler')) });
    let seq = 0;
    const publishResult = (service: string, fields: MessageInitShape<typeof JobResultSchema> & { jobId: string; status: string; attempt: number }, eventId?: string) =>
      publishProto(
        nats,
        nats.subjects.subject(`csda.events.${service}.job.${fields.status}`),
        JobResultSchema,
        create(JobResultSchema, { jobType: 'rotate_secret', resourceType: 'secret', resourceId: 'sec-x', ownerId: alice.id, maxAttempts: 4, ...fields }),
        { eventId: eventId ?? `${fields.jobId}:${fields.attempt}:${fields.status}:${seq++}` },
      );
    const record = async (id: string) => (await rows(`select status, attempts, max_attempts, last_error, detail, trigger, started_at, finished_at, next_attempt_at from scheduler.jobs where id = $1`, [id]))[0];
    const scheduler = () => createServiceClient(SchedulerService, `http://127.0.0.1:${service.rpcPort}`);

    beforeAll(async () => {
      ({ nats } = await open());
      service = await startService('scheduler', {
        DATABASE_URL: db.url,
        NATS_NAMESPACE: namespace,
        NODE_ENV: 'production',
        NATS_URL: natsUrl(),
        SCHEDULER_LOOPS: 'false',
        ...keys.envFor('scheduler'),
      });
    });
    afterAll(async () => {
      if (process.env.DEBUG_LOGS) console.log(service?.logs());
      await service?.stop();
    });

    it('folds JobResult events monotonically: out of order, duplicated and stale results change nothing', async () => {
      const id = job(1).jobId; // queued by the first test
      const t = (s: number) => BigInt(1_800_000_000_000 + s * 1_000);
      // Attempt 2 finished, then the older events arrive late, and the final one twice.
      await publishResult('vault', { jobId: id, status: 'succeeded', attempt: 2, detail: 'version 2', startedAtMs: t(70), finishedAtMs: t(71) });
      await publishResult('vault', { jobId: id, status: 'running', attempt: 1, startedAtMs: t(1) });
      await publishResult('vault', { jobId: id, status: 'retrying', attempt: 1, error: 'connection refused', startedAtMs: t(1), nextAttemptAtMs: t(61) });
      await publishResult('vault', { jobId: id, status: 'running', attempt: 2, startedAtMs: t(70) });
      await publishResult('vault', { jobId: id, status: 'succeeded', attempt: 2, detail: 'skipped: secret is already at version 2', startedAtMs: t(90), finishedAtMs: t(91) });
      // A redelivery of the finished job (a later attempt) reports a no-op: the record keeps what it did.
      await publishResult('vault', { jobId: id, status: 'running', attempt: 3, startedAtMs: t(95) });
      await publishResult('vault', { jobId: id, status: 'succeeded', attempt: 3, detail: 'skipped: secret is already at version 2', startedAtMs: t(95), finishedAtMs: t(96) });
      // In order for a second job: running → retrying → running → dead.
      const other = job(2).jobId;
      await publishResult('vault', { jobId: other, status: 'running', attempt: 1, startedAtMs: t(1) });
      await publishResult('vault', { jobId: other, status: 'retrying', attempt: 1, error: 'timeout', nextAttemptAtMs: t(61) });
      await waitFor(async () => (await record(other))?.status === 'retrying', { what: 'retrying folded' });
      expect(await record(other)).toMatchObject({ status: 'retrying', attempts: 1, last_error: 'timeout', next_attempt_at: new Date(Number(t(61))) });
      await publishResult('vault', { jobId: other, status: 'dead', attempt: 4, error: 'timeout again', finishedAtMs: t(300) });
      await publishResult('vault', { jobId: other, status: 'running', attempt: 3 });

      await waitFor(async () => (await record(other))?.status === 'dead', { what: 'dead folded' });
      // A last marker event: once it is folded, everything published before it has been handled.
      const marker = 'rotate:marker:1';
      await publishResult('vault', { jobId: marker, status: 'running', attempt: 1 });
      await waitFor(async () => (await record(marker)) !== undefined, { what: 'marker folded' });

      expect(await record(id)).toMatchObject({ status: 'succeeded', attempts: 2, max_attempts: 4, detail: 'version 2', last_error: '', finished_at: new Date(Number(t(71))), next_attempt_at: null });
      expect(await record(other)).toMatchObject({ status: 'dead', attempts: 4, last_error: 'timeout again', started_at: new Date(Number(t(1))), finished_at: new Date(Number(t(300))), next_attempt_at: null });
      // The dead job raised one rotation_failed alert.
      expect(await rows(`select kind, owner_id from scheduler.alerts where dedupe_key = $1`, [`rotation_failed:${other}`])).toEqual([{ kind: 'rotation_failed', owner_id: alice.id }]);
    });

    it('creates the record from a result that arrives before its queued row, and a later enqueue neither resets nor republishes it', async () => {
      const early = job(30_000);
      await publishResult('vault', { jobId: early.jobId, status: 'succeeded', attempt: 1, resourceId: early.secretId, detail: 'version 2' });
      await waitFor(async () => (await record(early.jobId)) !== undefined, { what: 'early result folded' });
      expect(await record(early.jobId)).toMatchObject({ status: 'succeeded', trigger: 'due', attempts: 1 });
      const before = await streamLastSeq(nats, 'JOBS_SECRETS');
      const q = await open();
      expect(await createJobQueue({ runtime: q }).enqueueRotations([early])).toEqual({ created: 0, published: 0, failed: 0 });
      expect(await streamLastSeq(nats, 'JOBS_SECRETS')).toBe(before);
      expect((await record(early.jobId))?.status).toBe('succeeded');
    });

    it('ignores a JobResult from a service that does not run the job, and dead-letters one that cannot be recorded', async () => {
      const forged = job(40_000).jobId;
      await publishResult('gateway', { jobId: forged, status: 'succeeded', attempt: 1 });
      await publishResult('vault', { jobId: 'rotate:bad:1', status: 'exploded', attempt: 1 });
      const marker = 'rotate:marker:2';
      await publishResult('vault', { jobId: marker, status: 'running', attempt: 1 });
      await waitFor(async () => (await record(marker)) !== undefined, { what: 'marker folded' });
      expect(await record(forged)).toBeUndefined();
      expect(await record('rotate:bad:1')).toBeUndefined();
      await waitFor(async () => (await streamLastSeq(nats, 'DEAD_LETTER').catch(() => 0)) >= 1, { what: 'dead letter' });
    });

    it('lists jobs (owners their own, system:read all) with filters, and hides other owners\u2019 jobs as NOT_FOUND', async () => {
      const client = scheduler();
      await createJobQueue({ runtime: await open() }).enqueueRotations([job(50_000, { ownerId: bob.id })]);
      const mine = await client.listJobs({ status: 'dead' }, await as(alice));
      expect(mine.items.map((j) => j.id)).toEqual([job(2).jobId]);
      expect(mine.items[0]).toMatchObject({ type: 'rotate_secret', resourceType: 'secret', status: 'dead', attempts: 4, trigger: 'due' });
      const bobs = await client.listJobs({}, await as(bob));
      expect(bobs.items.map((j) => j.id)).toEqual([job(50_000).jobId]);
      expect(bobs.total).toBe(1n);
      const all = await client.listJobs({ limit: 5 }, await as(admin));
      expect(all.items).toHaveLength(5);
      expect(Number(all.total)).toBeGreaterThan(10_000);
      expect((await client.listJobs({ resourceId: job(7).secretId }, await as(alice))).items.map((j) => j.id)).toEqual([job(7).jobId]);
      expect((await client.listJobs({ sinceMs: BigInt(Date.now() + 60_000) }, await as(admin))).total).toBe(0n);

      expect((await client.getJob({ id: job(2).jobId }, await as(alice))).job?.status).toBe('dead');
      expect((await client.getJob({ id: job(2).jobId }, await as(admin))).job?.ownerId).toBe(alice.id);
      await expect(client.getJob({ id: job(2).jobId }, await as(bob))).rejects.toMatchObject({ code: Code.NotFound });
      await expect(client.getJob({ id: 'nope' }, await as(alice))).rejects.toMatchObject({ code: Code.NotFound });
      const noJobs: Principal = { ...alice, permissions: ['secrets:read'] };
      await expect(client.listJobs({}, await as(noJobs))).rejects.toMatchObject({ code: Code.PermissionDenied });
      const invalid = await client.listJobs({ status: 'exploded', limit: 10_000 }, await as(alice)).catch((e: unknown) => e);
      expect(invalid).toBeInstanceOf(ConnectError);
      expect((invalid as ConnectError).code).toBe(Code.InvalidArgument);
      await expect(client.listJobs({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    });

    it('folds 10,000 JobResult events in seconds', async () => {
      const ids = Array.from({ length: 10_000 }, (_, i) => job(100 + i).jobId);
      const started = performance.now();
      for (let i = 0; i < ids.length; i += 500) {
        await Promise.all(ids.slice(i, i + 500).map((jobId) => publishResult('vault', { jobId, status: 'succeeded', attempt: 1, detail: 'version 2' }, `${jobId}:1:succeeded`)));
      }
      const published = performance.now() - started;
      const done = async () => (await rows(`select count(*)::int as n from scheduler.jobs where id = any($1) and status = 'succeeded'`, [ids]))[0]!.n === ids.length;
      await waitFor(done, { timeoutMs: 60_000, intervalMs: 250, what: '10,000 results folded' });
      const elapsed = performance.now() - started;
      console.log(`published 10,000 JobResults in ${Math.round(published)} ms; all folded after ${Math.round(elapsed)} ms`);
      expect(elapsed).toBeLessThan(30_000);
    });
  });
});
