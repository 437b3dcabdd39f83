import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const alice = user('alice');
const mallory = user('mallory');

/** Rotation jobs on JOBS_SECRETS, consumed by two vault processes side by side. */
describe('vault rotation jobs', () => {
  let h: VaultHarness;
  let a: Vault;
  let b: Vault;
  const revealed: string[] = [];

  beforeAll(async () => {
    h = await startHarness('vault_jobs', { VAULT_ROTATION_BACKOFF_S: '1,1', VAULT_ROTATION_ACK_WAIT_S: '5', VAULT_ROTATION_CONCURRENCY: '4' });
    [a, b] = await Promise.all([h.start(), h.start()]);
  });
  afterAll(async () => {
    // No value a test saw ever reached a log line.
    const logs = h?.logs() ?? '';
    for (const v of revealed) expect(logs).not.toContain(v);
    await h?.close();
  });

  const versions = async (id: string) => (await query<{ version: number }>(h.db.url, 'select version from vault.secret_versions where secret_id = $1 order by version', [id])).map((r) => r.version);
  const state = async (id: string) =>
    (await query<{ current_version: number; pending_version: number | null; rotation_state: string; rotation_last_error: string | null }>(
      h.db.url,
      'select current_version, pending_version, rotation_state, rotation_last_error from vault.secrets where id = $1',
      [id],
    ))[0]!;
  const randomSecret = async (name: string, owner = alice) =>
    (await a.client.createSecret({ name, value: `initial-${name}`, rotation: { enabled: true, intervalDays: 30, strategy: 'random', policy: { length: 24, charset: 'hex' } } }, await h.as(owner))).secret!;
  const finished = (statuses: string[]) => statuses.some((s) => ['succeeded', 'failed', 'dead'].includes(s));
  const waitResult = async (jobId: string, count = 1) =>
    waitFor(async () => (await h.jobResults(jobId)).filter((r) => finished([r.status])).length >= count, { what: `job ${jobId} finished`, timeoutMs: 30_000 });

  it('two vaults rotate each of 30 due secrets exactly once, publishing only succeeded (no running) for random', async () => {
    const secrets = await Promise.all(Array.from({ length: 30 }, (_, i) => randomSecret(`fleet-${i}`)));
    const dueAt = Date.now();
    await Promise.all(secrets.map((s) => h.publishJob({ jobId: `rotate:${s.id}:${dueAt}`, secretId: s.id, expectedVersion: 1, dueAtMs: BigInt(dueAt) })));
    await waitFor(async () => (await query<{ n: number }>(h.db.url, 'select count(*)::int as n from vault.secrets where current_version = 2 and name like $1', ['fleet-%']))[0]!.n === 30, {
      what: 'all 30 rotated',
      timeoutMs: 30_000,
    });
    for (const s of secrets) {
      expect(await versions(s.id)).toEqual([1, 2]);
      const results = await h.jobResults(`rotate:${s.id}:${dueAt}`);
      expect(results.map((r) => r.status)).toEqual(['succeeded']);
      expect(results[0]).toMatchObject({ jobType: 'rotate_secret', resourceType: 'secret', resourceId: s.id, ownerId: alice.id, attempt: 1, maxAttempts: 3, detail: 'version 2' });
      expect(results[0]!.eventId).toBe(`rotate:${s.id}:${dueAt}:1:succeeded`);
    }
    const value = (await a.client.revealSecret({ id: secrets[0]!.id }, await h.as(alice))).value;
    expect(value).toMatch(/^[0-9a-f]{24}$/);
    revealed.push(value);
    // Both processes took part (30 jobs over 2 × 4 slots).
    expect(a.logs()).toContain('"msg":"secret rotated"');
    expect(b.logs()).toContain('"msg":"secret rotated"');
  });

  it('rotates once when copies of one job race on both vaults at the same time', async () => {
    const secrets = await Promise.all(Array.from({ length: 12 }, (_, i) => randomSecret(`race-${i}`)));
    const jobs = secrets.flatMap((s) => ['x', 'y', 'z'].map((copy) => ({ jobId: `race:${s.id}`, secretId: s.id, expectedVersion: 1, copy })));
    await Promise.all(jobs.map((j) => h.publishJob({ jobId: j.jobId, secretId: j.secretId, expectedVersion: 1 }, `${j.jobId}#${j.copy}`)));
    await waitFor(async () => (await query<{ n: number }>(h.db.url, 'select count(*)::int as n from vault.secrets where current_version = 2 and name like $1', ['race-%']))[0]!.n === 12, {
      what: 'all raced secrets rotated',
    });
    await waitFor(async () => (await h.nats.jsm.consumers.info(`${h.namespace}_JOBS_SECRETS`, 'vault-secret-jobs')).num_pending === 0, { what: 'queue drained' });
    await new Promise((r) => setTimeout(r, 500));
    for (const s of secrets) {
      expect(await versions(s.id)).toEqual([1, 2]);
      expect((await h.audits(s.id)).filter((x) => x.action === 'secret_rotated')).toHaveLength(1);
    }
  });

  it('treats a duplicate job (same job, other message id) and a stale job as no-ops', async () => {
    const s = await randomSecret('dup');
    const jobId = `schedule:sched-1:${Date.now()}`;
    await h.publishJob({ jobId, secretId: s.id, expectedVersion: 1, scheduleId: 'sched-1', scheduleRunId: 'run-1' }, `${jobId}#a`);
    await waitResult(jobId);
    await h.publishJob({ jobId, secretId: s.id, expectedVersion: 1, scheduleId: 'sched-1', scheduleRunId: 'run-1' }, `${jobId}#b`);
    const stale = `rotate:${s.id}:1`;
    await h.publishJob({ jobId: stale, secretId: s.id, expectedVersion: 1 });
    await waitResult(stale);
    // The duplicate's attempt-1 succeeded result has the same event id as the first: kept once.
    await waitFor(async () => (await state(s.id)).current_version === 2);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await versions(s.id)).toEqual([1, 2]);
    expect((await h.jobResults(jobId)).map((r) => [r.status, r.detail, r.scheduleId, r.scheduleRunId])).toEqual([['succeeded', 'version 2', 'sched-1', 'run-1']]);
    expect((await h.jobResults(stale)).map((r) => [r.status, r.detail])).toEqual([['succeeded', 'skipped: secret is at version 2, the job expected 1']]);
    // The vault's own action with the scheduler as caller: the gateway's audit consumer refuses another service as actor.
    expect((await h.audits(s.id)).filter((x) => x.action === 'secret_rotated')).toEqual([
      expect.objectContaining({ actor: 'service:vault', details: expect.objectContaining({ trigger: 'schedule', job_id: jobId, version: '2', caller: 'service:scheduler' }) }),
    ]);
  });

  it('skips deleted and inactive secrets; fails, audited and at once, a manual secret and a schedule acting for someone else', async () => {
    const deleted = await randomSecret('deleted');
    await a.client.deleteSecret({ id: deleted.id }, await h.as(alice));
    const inactive = await randomSecret('inactive');
    await a.client.updateSecret({ id: inactive.id, isActive: false }, await h.as(alice));
    const manual = (await a.client.createSecret({ name: 'manual-job', value: 'm1', rotation: { enabled: true, intervalDays: 1, strategy: 'manual' } }, await h.as(alice))).secret!;
    const foreign = await randomSecret('not-mallorys');
    const own = await randomSecret('mallorys', mallory);
    const jobs = {
      deleted: { jobId: `j-deleted-${Date.now()}`, secretId: deleted.id, expectedVersion: 1 },
      inactive: { jobId: `j-inactive-${Date.now()}`, secretId: inactive.id, expectedVersion: 1 },
      manual: { jobId: `j-manual-${Date.now()}`, secretId: manual.id, expectedVersion: 1 },
      foreign: { jobId: `j-foreign-${Date.now()}`, secretId: foreign.id, expectedVersion: 1, actingFor: { userId: mallory.id, username: 'mallory', roles: ['USER'] }, scheduleId: 's-m' },
      own: { jobId: `j-own-${Date.now()}`, secretId: own.id, expectedVersion: 1, actingFor: { userId: mallory.id, username: 'mallory', roles: ['USER'] }, scheduleId: 's-m' },
    };
    for (const job of Object.values(jobs)) await h.publishJob(job);
    for (const job of Object.values(jobs)) await waitResult(job.jobId);
    const last = async (jobId: string) => (await h.jobResults(jobId)).at(-1)!;
    expect(await last(jobs.deleted.jobId)).toMatchObject({ status: 'succeeded', detail: 'skipped: secret does not exist or is deleted' });
    expect(await last(jobs.inactive.jobId)).toMatchObject({ status: 'succeeded', detail: 'skipped: secret is inactive' });
    expect(await last(jobs.manual.jobId)).toMatchObject({ status: 'failed', error: 'manual rotation: the owner must put the new value', attempt: 1 });
    expect(await last(jobs.foreign.jobId)).toMatchObject({ status: 'failed', error: 'the schedule owner does not own this secret' });
    expect(await last(jobs.own.jobId)).toMatchObject({ status: 'succeeded', detail: 'version 2' });
    expect(await state(foreign.id)).toMatchObject({ current_version: 1, rotation_state: 'failed', rotation_last_error: 'the schedule owner does not own this secret' });
    expect(await state(manual.id)).toMatchObject({ current_version: 1, rotation_state: 'failed' });
    expect((await h.audits(foreign.id)).filter((x) => x.action === 'secret_rotation_failed')).toEqual([
      expect.objectContaining({ outcome: 'failure', details: expect.objectContaining({ status: 'failed', on_behalf_of: mallory.id, job_id: jobs.foreign.jobId }) }),
    ]);
    expect((await a.client.getSecret({ id: foreign.id }, await h.as(alice))).secret?.rotation).toMatchObject({ status: 'failed', lastError: 'the schedule owner does not own this secret' });
    // Permanent failures were dead-lettered at once (no redelivery: one attempt each).
    const dlq = await h.nats.jsm.streams.info(`${h.namespace}_DEAD_LETTER`);
    expect(dlq.state.messages).toBe(2);
    // A failed secret leaves the due scan until its owner acts.
    await query(h.db.url, `update vault.secrets set next_rotation_at = now() - interval '1 minute' where id = any($1::uuid[])`, [[foreign.id, manual.id]]);
    const due = (await a.client.listDueRotations({ limit: 500 }, await h.asScheduler())).items.map((i) => i.secretId);
    expect(due).not.toContain(foreign.id);
    expect(due).not.toContain(manual.id);
  });

  it('dead-letters an undecodable job without touching anything', async () => {
    await h.nats.js.publish(h.nats.subjects.subject('csda.jobs.secrets.rotate'), new Uint8Array([0xff, 0xff, 0xff]), { msgID: `garbage-${Date.now()}` });
    await waitFor(async () => (await h.nats.jsm.streams.info(`${h.namespace}_DEAD_LETTER`)).state.messages === 3, { what: 'garbage dead-lettered' });
  });
});
