import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const JOB_RUN_STATUSES = ['running', 'completed', 'failed'] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

/** One execution of a one-shot job (a CronJob run, a manual run). */
export const JobRunSchema = defineEntity({
  name: 'JobRun',
  tableName: 'job_runs',
  schema: 'scheduler',
  properties: {
    id: p.string().primary().columnType('uuid'),
    job: p.string(),
    status: p.string().$type<JobRunStatus>(),
    detail: p.text().nullable(),
    startedAt: p.datetime().columnType('timestamptz'),
    finishedAt: p.datetime().columnType('timestamptz').nullable(),
  },
});

export type JobRun = InferEntity<typeof JobRunSchema>;
