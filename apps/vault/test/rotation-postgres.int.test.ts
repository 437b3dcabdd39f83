import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { freePort, query, startPostgresCluster, waitFor, type TestPostgresCluster } from '@csda/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from '@csda/net';
import * as strategy from '../src/rotation/postgres-strategy.ts';
import { describeError, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const alice = user('alice');
const bob = user('bob');
const password = () => `pw-${randomBytes(12).toString('hex')}`;
/** The test cluster listens on 127.0.0.1: the vaults here get VAULT_POSTGRES_ALLOW=127.0.0.1, and so do this file's own checks. */
const canLogin = (url: string) => strategy.canLogin(url, { egress: { allow: parseAllowList('127.0.0.1') } });

/**
 * The postgres strategy against real roles of a PostgreSQL cluster this test
 * starts with scram-sha-256 for every connection (the machine's own server
 * trusts local logins, which would prove nothing).
 */
describe('vault postgres rotation', () => {
  let h: VaultHarness;
  let cluster: TestPostgresCluster;
  let vault: Vault;
  const secretsSeen: string[] = [];
  const role = async (name: string, extra = '') => {
    const pw = password();
    secretsSeen.push(pw);
    await cluster.query(`create role ${name} login password '${pw}' ${extra}`);
    return { name, pw, url: cluster.url(name, pw) };
  };
  const rolpassword = async (name: string) => (await cluster.query<{ p: string }>('select rolpassword as p from pg_authid where rolname = $1', [name]))[0]!.p;
  const row = async (id: string) =>
    (await query<{ current_version: number; pending_version: number | null; rotation_state: string; rotation_last_error: string | null }>(
      h.db.url,
      'select current_version, pending_version, rotation_state, rotation_last_error from vault.secrets where id = $1',
      [id],
    ))[0]!;
  const versionCount = async (id: string) => (await query<{ n: number }>(h.db.url, 'select count(*)::int as n from vault.secret_versions where secret_id = $1', [id]))[0]!.n;
  const reveal = async (id: string, owner = alice) => {
    const { value } = await vault.client.revealSecret({ id }, await h.as(owner));
    secretsSeen.push(new URL(value).password);
    return value;
  };

  beforeAll(async () => {
    cluster = await startPostgresCluster({ auth: 'scram-sha-256', settings: { log_connections: 'on' } });
    h = await startHarness('vault_pg', { VAULT_ROTATION_BACKOFF_S: '1,1', VAULT_ROTATION_ACK_WAIT_S: '3', VAULT_POSTGRES_ALLOW: '127.0.0.1' });
    vault = await h.start();
  }, 90_000);
  afterAll(async () => {
    const logs = h?.logs() ?? '';
    for (const s of secretsSeen) expect(logs).not.toContain(s);
    await h?.close();
    await cluster?.stop();
  });

  it('rotates a role’s own password on demand: the new one logs in, the old one no longer does', async () => {
    const app = await role('app_self');
    const { secret } = await vault.client.createSecret(
      { name: 'pg-self', value: app.url, rotation: { enabled: true, intervalDays: 30, strategy: 'postgres', policy: { password_length: 40 } } },
      await h.as(alice),
    );
    expect(await canLogin(app.url)).toBe(true);
    const rotated = (await vault.client.rotateSecret({ id: secret!.id }, await h.as(alice))).secret!;
    expect(rotated).toMatchObject({ currentVersion: 2, rotation: { status: 'ok', pendingVersion: 0, lastError: '' } });
    const next = await reveal(secret!.id);
    expect(new URL(next).username).toBe('app_self');
    expect(decodeURIComponent(new URL(next).password)).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(await canLogin(next)).toBe(true);
    expect(await canLogin(app.url)).toBe(false);
    expect(await rolpassword('app_self')).toMatch(/^SCRAM-SHA-256\$/);
    expect((await h.audits(secret!.id)).find((a) => a.action === 'secret_rotated')?.details).toMatchObject({ version: '2', strategy: 'postgres' });
  });

  it('rotates through a rotator secret of the same owner, and refuses one of another owner', async () => {
    const rotator = await role('rotator', 'createrole');
    const app = await role('app_rotated');
    const rot = (await vault.client.createSecret({ name: 'pg-rotator', value: rotator.url }, await h.as(alice))).secret!;
    const bobsRot = (await vault.client.createSecret({ name: 'pg-rotator-bob', value: rotator.url }, await h.as(bob))).secret!;
    expect(
      (await describeError(vault.client.createSecret({ name: 'pg-app', value: app.url, rotation: { strategy: 'postgres', policy: { rotator_secret_id: bobsRot.id } } }, await h.as(alice)))).details,
    ).toEqual({ 'rotation.policy.rotator_secret_id': 'a secret of yours holding a PostgreSQL URL' });
    // The stored password is stale: only the rotator's login can have set the new one.
    const stale = cluster.url('app_rotated', 'stale-password');
    const { secret } = await vault.client.createSecret({ name: 'pg-app', value: stale, rotation: { strategy: 'postgres', policy: { rotator_secret_id: rot.id } } }, await h.as(alice));
    const rotatorBefore = await rolpassword('rotator');
    await vault.client.rotateSecret({ id: secret!.id }, await h.as(alice));
    const next = await reveal(secret!.id);
    expect(await canLogin(next)).toBe(true);
    expect(await canLogin(app.url)).toBe(false);
    expect(await rolpassword('rotator')).toBe(rotatorBefore);
    expect(await canLogin(rotator.url)).toBe(true);
  });

  it('fails at once on wrong current credentials (nothing changed), and retries an unreachable server before dead-lettering', async () => {
    const app = await role('app_wrong');
    const wrong = cluster.url('app_wrong', 'not-the-password');
    const s1 = (await vault.client.createSecret({ name: 'pg-wrong', value: wrong, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres' } }, await h.as(alice))).secret!;
    const before = await rolpassword('app_wrong');
    const job1 = `rotate:${s1.id}:${Date.now()}`;
    await h.publishJob({ jobId: job1, secretId: s1.id, expectedVersion: 1 });
    await waitFor(async () => (await h.jobResults(job1)).some((r) => r.status === 'failed'), { what: 'permanent failure', timeoutMs: 20_000 });
    expect((await h.jobResults(job1)).map((r) => r.status)).toEqual(['running', 'failed']);
    expect(await rolpassword('app_wrong')).toBe(before);
    expect(await canLogin(app.url)).toBe(true);
    const r1 = await row(s1.id);
    expect(r1).toMatchObject({ current_version: 1, rotation_state: 'failed', pending_version: 2 });
    expect(r1.rotation_last_error).toMatch(/^postgres: /);
    expect(r1.rotation_last_error).not.toContain('not-the-password');

    const deadPort = await freePort();
    const s2 = (await vault.client.createSecret({ name: 'pg-away', value: `postgres://app:${password()}@127.0.0.1:${deadPort}/app`, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres' } }, await h.as(alice))).secret!;
    const job2 = `rotate:${s2.id}:${Date.now()}`;
    await h.publishJob({ jobId: job2, secretId: s2.id, expectedVersion: 1 });
    await waitFor(async () => (await h.jobResults(job2)).some((r) => r.status === 'dead'), { what: 'dead after retries', timeoutMs: 30_000 });
    const results = await h.jobResults(job2);
    expect(results.map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:running', '1:retrying', '2:running', '2:retrying', '3:running', '3:dead']);
    expect(Number(results[1]!.nextAttemptAtMs)).toBeGreaterThan(0);
    const r2 = await row(s2.id);
    expect(r2).toMatchObject({ current_version: 1, rotation_state: 'failed', pending_version: 2 });
    // The same pending version was kept through every attempt (never a second new password).
    expect(await versionCount(s2.id)).toBe(2);
    expect((await vault.client.getSecret({ id: s2.id }, await h.as(alice))).secret?.rotation).toMatchObject({ status: 'failed', pendingVersion: 2 });
    expect((await h.audits(s2.id)).filter((a) => a.action === 'secret_rotation_failed').map((a) => a.details.status)).toEqual(['retrying', 'retrying', 'dead']);
  });

  it('loses nothing when the vault is killed (-9) between applying the new password and promoting it', async () => {
    const app = await role('app_crash');
    const { secret } = await vault.client.createSecret({ name: 'pg-crash', value: app.url, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres' } }, await h.as(alice));
    const id = secret!.id;
    const before = await rolpassword('app_crash');
    // 1. Hold ALTER ROLE back in the cluster (SHARE on pg_authid blocks writers, not logins).
    const clusterLock = new pg.Client({ connectionString: cluster.superuserUrl });
    await clusterLock.connect();
    await clusterLock.query('begin');
    await clusterLock.query('lock table pg_authid in share mode');
    const jobId = `rotate:${id}:${Date.now()}`;
    await h.publishJob({ jobId, secretId: id, expectedVersion: 1 });
    // 2. Phase 1 committed: the pending version is stored before anything changed outside.
    await waitFor(async () => (await row(id)).pending_version === 2, { what: 'pending version stored' });
    expect(await rolpassword('app_crash')).toBe(before);
    // 3. Take the secret's row lock, so the promotion (phase 2) will wait; then let ALTER ROLE through.
    const rowLock = new pg.Client({ connectionString: h.db.url });
    await rowLock.connect();
    await rowLock.query('begin');
    await rowLock.query('select id from vault.secrets where id = $1 for update', [id]);
    await clusterLock.query('commit');
    await clusterLock.end();
    await waitFor(async () => (await rolpassword('app_crash')) !== before, { what: 'new password applied' });
    await waitFor(async () => (await query(h.db.url, `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%for update%'`)).length > 0, {
      what: 'promotion waiting on the row lock',
    });
    expect(await canLogin(app.url)).toBe(false);
    // 4. kill -9 the vault while it waits to promote; release the lock.
    const exited = once(vault.process, 'exit');
    vault.process.kill('SIGKILL');
    await exited;
    await rowLock.query('rollback');
    await rowLock.end();
    expect(await row(id)).toMatchObject({ current_version: 1, pending_version: 2, rotation_state: 'pending' });
    // 5. A new vault gets the redelivered job (ack wait 3 s), finds the pending password already logs in, and promotes it.
    vault = await h.start();
    await waitFor(async () => (await row(id)).current_version === 2, { what: 'promoted after restart', timeoutMs: 30_000 });
    expect(await row(id)).toMatchObject({ current_version: 2, pending_version: null, rotation_state: 'ok', rotation_last_error: null });
    expect(await versionCount(id)).toBe(2);
    const next = await reveal(id);
    expect(await canLogin(next)).toBe(true);
    expect(await canLogin(app.url)).toBe(false);
    const results = await h.jobResults(jobId);
    // The killed attempt never finished; a success recorded last (which delivery promoted it is JetStream's timing:
    // usually the redelivery, attempt 2; once under load in CI the record read attempt 1). Under load the new vault
    // can get the job twice (ack wait 3 s); the second delivery finds the password promoted and succeeds again
    // without a new version — the single promotion is the version count above.
    const statuses = results.map((r) => r.status);
    expect(statuses[0]).toBe('running');
    expect(statuses.filter((st) => st === 'succeeded').length).toBeGreaterThanOrEqual(1);
    expect(statuses.at(-1)).toBe('succeeded');
    expect(statuses).not.toContain('failed');
    expect((await vault.client.getSecret({ id }, await h.as(alice))).secret?.rotation?.status).toBe('ok');
  }, 90_000);

  it('a vault without VAULT_POSTGRES_ALLOW refuses the 127.0.0.1 cluster: the job fails at once, nothing connects, the password stays', async () => {
    // Its own database and namespace, so no vault with the allow list can take the job.
    const guarded = await startHarness('vault_pg_guard', { VAULT_ROTATION_BACKOFF_S: '1,1' });
    try {
      const strict = await guarded.start();
      const app = await role('app_guarded');
      const rotator = await role('rotator_guarded', 'createrole');
      const before = await rolpassword('app_guarded');
      const received = async () => ((await cluster.serverLog()).match(/connection received: /g) ?? []).length;
      const seen = await received();

      const rot = (await strict.client.createSecret({ name: 'pg-rotator', value: rotator.url }, await guarded.as(alice))).secret!;
      const direct = (await strict.client.createSecret({ name: 'pg-direct', value: app.url, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres' } }, await guarded.as(alice))).secret!;
      const viaRotator = (
        await strict.client.createSecret({ name: 'pg-via-rotator', value: app.url, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres', policy: { rotator_secret_id: rot.id } } }, await guarded.as(alice))
      ).secret!;
      for (const s of [direct, viaRotator]) {
        const jobId = `rotate:${s.id}:${Date.now()}`;
        await guarded.publishJob({ jobId, secretId: s.id, expectedVersion: 1 });
        await waitFor(async () => (await guarded.jobResults(jobId)).some((r) => r.status === 'failed'), { what: 'refused rotation failed', timeoutMs: 20_000 });
        const results = await guarded.jobResults(jobId);
        // Permanent: failed at the first attempt, never retried.
        expect(results.map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:running', '1:failed']);
        const [r] = await query<{ rotation_state: string; rotation_last_error: string; current_version: number }>(
          guarded.db.url,
          'select rotation_state, rotation_last_error, current_version from vault.secrets where id = $1',
          [s.id],
        );
        expect(r).toMatchObject({ rotation_state: 'failed', current_version: 1 });
        expect(r!.rotation_last_error).toBe(
          `postgres: Connecting to PostgreSQL at 127.0.0.1:${cluster.port} is refused: 127.0.0.1 is a loopback address, and VAULT_POSTGRES_ALLOW does not permit it`,
        );
        expect((await strict.client.getSecret({ id: s.id }, await guarded.as(alice))).secret?.rotation).toMatchObject({ status: 'failed', lastError: r!.rotation_last_error });
      }
      const onDemand = await describeError(strict.client.rotateSecret({ id: direct.id }, await guarded.as(alice)));
      expect(onDemand.message).toContain('VAULT_POSTGRES_ALLOW does not permit it');

      expect(await received()).toBe(seen);
      expect(await rolpassword('app_guarded')).toBe(before);
      expect(await canLogin(app.url)).toBe(true);
      const logs = guarded.logs();
      for (const secret of [app.pw, rotator.pw]) expect(logs).not.toContain(secret);
    } finally {
      await guarded.close();
    }
  }, 90_000);
});
