import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '@csda/proto/grpc/health/v1/health_pb.js';
import { connectNats, createServiceClient, type Nats } from '@csda/service-kit';
import { randomBytes, randomUUID } from 'node:crypto';
import { createTestDatabase, deleteNamespace, findSamples, freePort, parsePrometheus, generateTestKeys, natsUrl, query, runCommand, spawnService, startService, testNamespace, waitFor, type RunningService, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: perms('USER') };

/**
 * The rotation pipeline on real processes: a vault (with its JOBS_SECRETS
 * worker), the scheduler's rotate-secrets / cleanup-expired one-shots and two
 * scheduler replicas, against one database and NATS namespace.
 */
describe('rotation pipeline: scheduler ↔ vault', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let db: TestDatabase;
  let vaultService: Awaited<ReturnType<typeof startService>>;
  const schedulers: Awaited<ReturnType<typeof startService>>[] = [];
  let nats: Nats;
  let schedulerEnv: Record<string, string>;
  let vaultEnv: Record<string, string>;
  const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const asAlice = async () => ({ headers: principalHeaders(await signer.sign(alice, 'vault')) });
  const vault = () => createServiceClient(VaultService, `http://127.0.0.1:${vaultService.rpcPort}`);
  const rows = <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => query<R>(db.url, sql, params);
  const lastSeq = async (stream: string) => (await nats.jsm.streams.info(nats.subjects.stream(stream))).state.last_seq;
  let created = 0;

  async function createSecrets(count: number, strategy: 'random' | 'manual', due: boolean): Promise<string[]> {
    const client = vault();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { secret } = await client.createSecret({ name: `${strategy}-${created++}`, value: 'initial-value', rotation: { enabled: true, intervalDays: 30, strategy } }, await asAlice());
      ids.push(secret!.id);
    }
    // Due an hour ago (the vault never looks into the future, so the test moves the secret instead of the clock).
    if (due) await rows(`update vault.secrets set next_rotation_at = now() - interval '1 hour' where id = any($1::uuid[])`, [ids]);
    return ids;
  }
  const versions = async (ids: string[]) =>
    (await rows<{ id: string; current_version: number; n: number }>(
      `select s.id, s.current_version, (select count(*)::int from vault.secret_versions v where v.secret_id = s.id) as n from vault.secrets s where s.id = any($1::uuid[])`,
      [ids],
    )).sort((a, b) => a.id.localeCompare(b.id));

  beforeAll(async () => {
    db = await createTestDatabase('rotation');
    const common = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'production' };
    vaultEnv = { ...common, ...keys.envFor('vault') };
    expect((await runCommand('vault', 'migrate', vaultEnv)).code).toBe(0);
    vaultService = await startService('vault', vaultEnv);
    // No gateway in this test: its RPC port is a closed one (PurgeSessions fails, which the cleanup test expects).
    schedulerEnv = { ...common, ...keys.envFor('scheduler'), VAULT_URL: `http://127.0.0.1:${vaultService.rpcPort}`, GATEWAY_URL: `http://127.0.0.1:${await freePort()}` };
    const migrated = await runCommand('scheduler', 'migrate', schedulerEnv);
    expect(migrated.code, migrated.stderr).toBe(0);
    nats = await connectNats(natsUrl(), 'rotation-test', namespace);
  });

  afterAll(async () => {
    if (process.env.DEBUG_LOGS) for (const s of [vaultService, ...schedulers]) console.log(s?.logs());
    await Promise.all(schedulers.map((s) => s.stop()));
    await vaultService?.stop();
    await nats?.connection.close();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('rotate-secrets run twice at once enqueues exactly one job per due automatic secret and alerts the manual ones once', async () => {
    const due = await createSecrets(12, 'random', true);
    const notDue = await createSecrets(2, 'random', false);
    const manual = await createSecrets(2, 'manual', true);
    const dueAt = await rows<{ id: string; ms: string }>(`select id, floor(extract(epoch from next_rotation_at) * 1000)::bigint::text as ms from vault.secrets where id = any($1::uuid[])`, [due]);
    const before = await lastSeq('JOBS_SECRETS');

    const runs = await Promise.all([runCommand('scheduler', 'rotate-secrets', schedulerEnv), runCommand('scheduler', 'rotate-secrets', schedulerEnv)]);
    for (const r of runs) expect(r.code, r.stderr + r.stdout).toBe(0);

    const jobs = await rows<{ id: string; resource_id: string; trigger: string }>(`select id, resource_id, trigger from scheduler.jobs order by id`);
    expect(jobs.map((j) => j.id)).toEqual(dueAt.map((d) => `rotate:${d.id}:${d.ms}`).sort());
    expect(jobs.every((j) => j.trigger === 'due')).toBe(true);
    expect((await lastSeq('JOBS_SECRETS')) - before).toBe(12);
    expect(await rows(`select resource_id from scheduler.alerts where kind = 'rotation_due' order by resource_id`)).toEqual([...manual].sort().map((id) => ({ resource_id: id })));

    const recorded = await rows<{ job: string; status: string; detail: string }>(`select job, status, detail from scheduler.job_runs order by started_at`);
    expect(recorded.map((r) => [r.job, r.status])).toEqual([
      ['rotate-secrets', 'completed'],
      ['rotate-secrets', 'completed'],
    ]);
    // At least one run did the work and says so; the other found it done or saw the scan held.
    expect(recorded.map((r) => r.detail).join('\n')).toMatch(/14 due secret\(s\); 12 rotation job\(s\) enqueued/);

    // The vault's worker rotates each exactly once; the next run finds nothing due.
    await waitFor(async () => (await versions(due)).every((v) => v.current_version === 2), { timeoutMs: 30_000, what: 'due secrets rotated' });
    expect((await versions(due)).map((v) => v.n)).toEqual(due.map(() => 2));
    expect((await versions(notDue)).map((v) => v.current_version)).toEqual([1, 1]);
    const again = await runCommand('scheduler', 'rotate-secrets', schedulerEnv);
    expect(again.code).toBe(0);
    expect(await rows(`select count(*)::int as n from scheduler.jobs`)).toEqual([{ n: 12 }]);
    expect(await rows(`select count(*)::int as n from scheduler.alerts where kind = 'rotation_due'`)).toEqual([{ n: 2 }]);
  });

  it('two scheduler and two vault replicas side by side: one job and one new version per due secret, job records folded from the vaults’ results', async () => {
    const loopEnv = { ...schedulerEnv, SCHEDULER_SCAN_INTERVAL_S: '1' };
    schedulers.push(await startService('scheduler', loopEnv), await startService('scheduler', loopEnv));
    // A second vault worker on the same queue (the first one serves the test's RPCs too).
    const secondVault = await startService('vault', vaultEnv);
    onTestFinished(async () => void (await secondVault.stop()));
    const before = await lastSeq('JOBS_SECRETS');
    const due = await createSecrets(25, 'random', true);
    await waitFor(
      async () => {
        const [r] = await rows<{ n: number }>(`select count(*)::int as n from scheduler.jobs where resource_id = any($1) and status = 'succeeded'`, [due]);
        return r!.n === due.length;
      },
      { timeoutMs: 45_000, what: 'all due secrets rotated and their jobs folded to succeeded' },
    );
    // A few more scans by both replicas change nothing.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const jobs = await rows<{ resource_id: string; status: string; attempts: number; detail: string }>(`select resource_id, status, attempts, detail from scheduler.jobs where resource_id = any($1)`, [due]);
    expect(jobs).toHaveLength(25);
    expect(jobs.every((j) => j.status === 'succeeded' && j.attempts === 1)).toBe(true);
    expect((await lastSeq('JOBS_SECRETS')) - before).toBe(25);
    expect((await versions(due)).map((v) => [v.current_version, v.n])).toEqual(due.map(() => [2, 2]));

    // Their metrics agree: 25 jobs enqueued between them, 25 results folded, a successful scan recently.
    const samples = await Promise.all(schedulers.map(async (s) => parsePrometheus(await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text())));
    const sum = (name: string, labels: Record<string, string>) => samples.flatMap((m) => findSamples(m, name, labels)).reduce((n, x) => n + x.value, 0);
    expect(sum('csda_scheduler_jobs_enqueued_total', { type: 'rotate_secret' })).toBe(25);
    expect(sum('csda_scheduler_job_results_total', { status: 'succeeded' })).toBeGreaterThanOrEqual(25);
    expect(sum('csda_scheduler_job_publish_failures_total', {})).toBe(0);
    const lastScan = Math.max(...samples.flatMap((m) => findSamples(m, 'csda_scheduler_task_last_success_timestamp_seconds', { task: 'due_scan' })).map((x) => x.value));
    expect(Date.now() / 1_000 - lastScan).toBeLessThan(10);
  });

  it('cleanup-expired deactivates expired secrets and sends expiry warnings, and exits non-zero when the gateway cannot purge sessions', async () => {
    const client = vault();
    const expired = (await client.createSecret({ name: 'expired-one', value: 'x' }, await asAlice())).secret!;
    const expiring = (await client.createSecret({ name: 'expiring-one', value: 'x', expiresAtMs: BigInt(Date.now() + 2 * 86_400_000) }, await asAlice())).secret!;
    await rows(`update vault.secrets set expires_at = now() - interval '1 minute' where id = $1`, [expired.id]);

    const run = await runCommand('scheduler', 'cleanup-expired', schedulerEnv);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/purge sessions/);
    const [recorded] = await rows<{ status: string; detail: string }>(`select status, detail from scheduler.job_runs where job = 'cleanup-expired' order by started_at desc limit 1`);
    expect(recorded!.status).toBe('failed');
    expect(recorded!.detail).toMatch(/1 expired secret\(s\) deactivated, 1 expiry warning\(s\) sent, 0 session\(s\) purged; failed: purge sessions: Unavailable/);
    expect(await rows(`select id, is_active from vault.secrets where id = any($1::uuid[]) order by name`, [[expired.id, expiring.id]])).toEqual([
      { id: expired.id, is_active: false },
      { id: expiring.id, is_active: true },
    ]);
    // The replicas raise the alerts from the vault's events (the warning at the nearest threshold crossed: 3 days), once each.
    await waitFor(async () => (await rows(`select 1 from scheduler.alerts where resource_id = any($1)`, [[expired.id, expiring.id]])).length === 2, { timeoutMs: 15_000, what: 'expiry alerts' });
    expect(await rows(`select kind, resource_id, dedupe_key from scheduler.alerts where resource_id = any($1) order by kind`, [[expired.id, expiring.id]])).toEqual([
      { kind: 'secret_expired', resource_id: expired.id, dedupe_key: expect.stringMatching(new RegExp(`^secret_expired:${expired.id}:`)) },
      { kind: 'secret_expiring', resource_id: expiring.id, dedupe_key: `secret_expiring:${expiring.id}:3:${expiring.expiresAtMs}` },
    ]);
    // Again: nothing left to expire or warn about.
    const second = await runCommand('scheduler', 'cleanup-expired', schedulerEnv);
    expect(second.code).not.toBe(0);
    expect((await rows<{ detail: string }>(`select detail from scheduler.job_runs where job = 'cleanup-expired' order by started_at desc limit 1`))[0]!.detail).toMatch(/: 0 expired secret\(s\) deactivated, 0 expiry warning\(s\) sent/);
  });

  it('cleanup-expired with the gateway up purges expired refresh tokens and exits 0', async () => {
    const gatewayEnv = { ...schedulerEnv, ...keys.envFor('gateway'), REDIS_KEY_PREFIX: `${namespace}:`, OPS_PORT: String(await freePort()), ADMIN_INITIAL_PASSWORD: 'test-admin-password-0123456789' };
    for (const command of ['migrate', 'bootstrap']) {
      const r = await runCommand('gateway', command, gatewayEnv);
      expect(r.code, r.stderr).toBe(0);
    }
    const rpcPort = await freePort();
    const gateway: RunningService = spawnService('gateway', gatewayEnv, rpcPort, await freePort());
    try {
      // Its /readyz waits for every backend; the scheduler needs only its RPC port serving.
      const health = createServiceClient(Health, `http://127.0.0.1:${rpcPort}`);
      const serving = async () => (await health.check({ service: '' }).catch(() => undefined))?.status === HealthCheckResponse_ServingStatus.SERVING;
      await waitFor(serving, { timeoutMs: 30_000, what: 'gateway RPC serving' }).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${gateway.logs().slice(-3_000)}`);
      });
      const [user] = await rows<{ id: string }>(`select id from identity.users limit 1`);
      const stale = randomUUID();
      await rows(`insert into identity.refresh_tokens (id, token_hash, family_id, user_id, expires_at) values ($1, $2, $3, $4, now() - interval '1 day')`, [stale, randomBytes(16).toString('hex'), randomUUID(), user!.id]);
      // The serving schedulers of this file run cleanup-expired too (at start, then hourly); a one-shot that meets
      // one of them holding the lock is recorded as skipped: run it again until it is the one that ran.
      let recorded: { status: string; detail: string } | undefined;
      await waitFor(
        async () => {
          const run = await runCommand('scheduler', 'cleanup-expired', { ...schedulerEnv, GATEWAY_URL: `http://127.0.0.1:${rpcPort}` });
          expect(run.code, run.stderr).toBe(0);
          [recorded] = await rows<{ status: string; detail: string }>(`select status, detail from scheduler.job_runs where job = 'cleanup-expired' order by started_at desc limit 1`);
          return !recorded?.detail.startsWith('skipped: ');
        },
        { timeoutMs: 60_000, what: 'a cleanup-expired run that was not skipped' },
      );
      expect(recorded).toEqual({ status: 'completed', detail: '0 expired secret(s) deactivated, 0 expiry warning(s) sent, 1 session(s) purged' });
      expect(await rows(`select id from identity.refresh_tokens where id = $1`, [stale])).toEqual([]);
    } finally {
      gateway.process.kill('SIGTERM');
      await new Promise((resolve) => gateway.process.once('exit', resolve));
    }
  });

  it('rotate-secrets exits non-zero and records the failure when the vault is unreachable', async () => {
    // The replicas' 1-second scan loops would hold the scan lock (the one-shot would then skip its scan and exit 0).
    await Promise.all(schedulers.map((s) => s.stop()));
    const run = await runCommand('scheduler', 'rotate-secrets', { ...schedulerEnv, VAULT_URL: `http://127.0.0.1:${await freePort()}` });
    expect(run.code).not.toBe(0);
    const [recorded] = await rows<{ status: string; detail: string }>(`select status, detail from scheduler.job_runs where job = 'rotate-secrets' order by started_at desc limit 1`);
    expect(recorded!.status).toBe('failed');
  });
});
