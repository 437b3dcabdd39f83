import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { hasPermission, principalFrom, requirePermission, subjectOf } from '@csda/auth';
import { NotFoundError, ValidationError } from '@csda/errors';
import { JobSchema as JobMessageSchema, type Job, type SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { JOB_STATUSES, type JobRecord, type JobStatus } from './job.entity.ts';
import type { JobRepository } from './job.repository.ts';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const ms = (d: Date | null | undefined) => BigInt(d ? d.getTime() : 0);

export function toJobMessage(j: JobRecord): Job {
  return create(JobMessageSchema, {
    id: j.id,
    type: j.type,
    resourceType: j.resourceType,
    resourceId: j.resourceId,
    ownerId: j.ownerId,
    status: j.status,
    attempts: j.attempts,
    maxAttempts: j.maxAttempts,
    lastError: j.lastError,
    detail: j.detail,
    trigger: j.trigger,
    scheduleId: j.scheduleId ?? '',
    createdAtMs: ms(j.createdAt),
    startedAtMs: ms(j.startedAt),
    finishedAtMs: ms(j.finishedAt),
    updatedAtMs: ms(j.updatedAt),
    nextAttemptAtMs: ms(j.nextAttemptAt),
  });
}

/** Whose jobs the caller sees: `jobs:read` for their own, plus `system:read` for everyone's. */
function visibility(ctx: HandlerContext): { ownerId?: string } {
  const principal = principalFrom(ctx);
  requirePermission(principal, 'jobs:read');
  return hasPermission(principal, 'system:read') && !principal.onBehalfOf ? {} : { ownerId: subjectOf(principal).id };
}

/** ListJobs / GetJob: the job records (task status), owners see their own, admins all. */
export function createJobsRpc(deps: { jobs: () => JobRepository }): Pick<ServiceImpl<typeof SchedulerService>, 'listJobs' | 'getJob'> {
  return {
    async listJobs(req, ctx) {
      const { ownerId } = visibility(ctx);
      const problems: Record<string, string> = {};
      if (req.limit < 0 || req.limit > MAX_LIMIT) problems.limit = `must be between 1 and ${MAX_LIMIT}`;
      if (req.offset < 0) problems.offset = 'must not be negative';
      if (req.status && !(JOB_STATUSES as readonly string[]).includes(req.status)) problems.status = `must be one of ${JOB_STATUSES.join(', ')}`;
      if (req.type.length > 100) problems.type = 'at most 100 characters';
      if (req.resourceId.length > 300) problems.resource_id = 'at most 300 characters';
      if (req.sinceMs < 0n) problems.since = 'must not be negative';
      if (req.untilMs < 0n) problems.until = 'must not be negative';
      if (req.sinceMs > 0n && req.untilMs > 0n && req.untilMs <= req.sinceMs) problems.until = 'must be after since';
      if (Object.keys(problems).length > 0) throw new ValidationError('Invalid job filter', problems);
      const page = await deps.jobs().list({
        ownerId,
        type: req.type || undefined,
        status: (req.status || undefined) as JobStatus | undefined,
        resourceId: req.resourceId || undefined,
        since: req.sinceMs > 0n ? new Date(Number(req.sinceMs)) : undefined,
        until: req.untilMs > 0n ? new Date(Number(req.untilMs)) : undefined,
        limit: req.limit || DEFAULT_LIMIT,
        offset: req.offset,
      });
      return { items: page.items.map(toJobMessage), total: BigInt(page.total) };
    },
    async getJob(req, ctx) {
      const { ownerId } = visibility(ctx);
      if (!req.id || req.id.length > 300) throw new ValidationError('Invalid job id', { id: 'required, at most 300 characters' });
      const job = await deps.jobs().findOne(req.id);
      // Someone else's job is exactly as absent as one that does not exist.
      if (!job || (ownerId !== undefined && job.ownerId !== ownerId)) throw new NotFoundError('Job', req.id);
      return { job: toJobMessage(job) };
    },
  };
}
