import type { Logger } from '@csda/service-kit';
import type { JobRunRepository } from '../job-runs/job-run.repository.ts';

/** What a one-shot job reports when it finishes. */
export interface JobOutcome {
  readonly detail: string;
}

export type OneShotJob = (logger: Logger) => Promise<JobOutcome>;

/**
 * Runs `job` once, recording the run in `scheduler.job_runs` so operators
 * can see every CronJob execution and its outcome. Rethrows failures (the
 * process then exits non-zero and Kubernetes records the failed Job).
 */
export async function runOneShot(name: string, job: OneShotJob, runs: JobRunRepository, logger: Logger): Promise<JobOutcome> {
  const run = await runs.start(name);
  const log = logger.child({ job: name, run_id: run.id });
  try {
    const outcome = await job(log);
    await runs.finish(run, 'completed', outcome.detail);
    log.info({ detail: outcome.detail }, `${name} completed`);
    return outcome;
  } catch (err) {
    await runs.finish(run, 'failed', err instanceof Error ? err.message.slice(0, 500) : 'failed');
    log.error({ err }, `${name} failed`);
    throw err;
  }
}
