import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { JobRunSchema, type JobRun, type JobRunStatus } from './job-run.entity.ts';

/** The only place that touches `scheduler.job_runs`. */
export function createJobRunRepository(em: EntityManager) {
  return {
    async start(job: string): Promise<JobRun> {
      const run = em.create(JobRunSchema, { id: randomUUID(), job, status: 'running', startedAt: new Date() });
      await em.flush();
      return run;
    },
    async finish(run: JobRun, status: Exclude<JobRunStatus, 'running'>, detail: string): Promise<void> {
      run.status = status;
      run.detail = detail;
      run.finishedAt = new Date();
      await em.flush();
    },
    async latest(job: string, limit: number): Promise<JobRun[]> {
      return em.find(JobRunSchema, { job }, { orderBy: { startedAt: 'desc' }, limit });
    },
  };
}

export type JobRunRepository = ReturnType<typeof createJobRunRepository>;
