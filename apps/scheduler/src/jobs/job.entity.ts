import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'retrying', 'failed', 'dead'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses after which a job changes no more. */
export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'dead'];

export const JOB_TRIGGERS = ['due', 'schedule', 'manual'] as const;
export type JobTrigger = (typeof JOB_TRIGGERS)[number];

/** A background job's record (see Migration20261203000000-jobs); the queued message itself is not mapped. */
export const JobSchema = defineEntity({
  name: 'Job',
  tableName: 'jobs',
  schema: 'scheduler',
  properties: {
    id: p.string().primary(),
    type: p.string(),
    resourceType: p.string(),
    resourceId: p.string(),
    ownerId: p.string(),
    status: p.string().$type<JobStatus>(),
    attempts: p.integer(),
    maxAttempts: p.integer(),
    lastError: p.text(),
    detail: p.text(),
    trigger: p.string().$type<JobTrigger>(),
    scheduleId: p.string().nullable(),
    scheduleRunId: p.string().nullable(),
    publishedAt: p.datetime().columnType('timestamptz').nullable(),
    createdAt: p.datetime().columnType('timestamptz'),
    startedAt: p.datetime().columnType('timestamptz').nullable(),
    finishedAt: p.datetime().columnType('timestamptz').nullable(),
    updatedAt: p.datetime().columnType('timestamptz'),
    nextAttemptAt: p.datetime().columnType('timestamptz').nullable(),
  },
});

export type JobRecord = InferEntity<typeof JobSchema>;
