import { createTestDatabase, deleteNamespace, query, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The CronJob commands as real processes against an isolated database. */
describe('scheduler one-shot commands', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  const env = () => ({ DATABASE_URL: db.url, NATS_NAMESPACE: namespace });
  beforeAll(async () => {
    db = await createTestDatabase('scheduler');
  });
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses to run before migrate (no job_runs table) with a non-zero exit', async () => {
    const result = await runCommand('scheduler', 'rotate-secrets', env());
    expect(result.code).not.toBe(0);
  });

  it('runs rotate-secrets and cleanup-expired, exits 0 and records each run', async () => {
    expect((await runCommand('scheduler', 'migrate', env())).code).toBe(0);
    for (const job of ['rotate-secrets', 'cleanup-expired']) {
      const result = await runCommand('scheduler', job, env());
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${job} completed`);
    }
    const runs = await query<{ job: string; status: string; finished_at: Date | null }>(db.url, 'select job, status, finished_at from scheduler.job_runs order by started_at');
    expect(runs.map((r) => [r.job, r.status])).toEqual([
      ['rotate-secrets', 'completed'],
      ['cleanup-expired', 'completed'],
    ]);
    expect(runs.every((r) => r.finished_at !== null)).toBe(true);
  });
});
