import { create } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { outboxMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';
import type { ExecutionRecord } from './execution.types.ts';

/** The JobResult statuses an execution reports: claimed, then finished. */
export type ExecutionJobStatus = 'running' | 'succeeded' | 'failed';

/** The subject a JobResult goes out on (through the outbox), under the tool-runner's own name. */
export const jobSubject = (status: ExecutionJobStatus) => `csda.events.tool-runner.job.${status}`;

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);

/** queued reports nothing; completed is succeeded; failed, timed_out and cancelled are failed (the reason in `error`). */
function jobStatus(status: ExecutionRecord['status']): ExecutionJobStatus | undefined {
  if (status === 'running') return 'running';
  if (status === 'completed') return 'succeeded';
  return status === 'queued' ? undefined : 'failed';
}

/** Why it did not succeed, readable: the stored (already redacted) error, e.g. `exited with code 3 (EXIT_CODE)`. */
function reason(e: ExecutionRecord): string {
  const words = e.status.replace('_', ' ');
  if (!e.error) return `execution ${words}`;
  return `${e.status === 'failed' ? '' : `${words}: `}${e.error.message} (${e.error.code})`;
}

/**
 * The JobResult of an execution a schedule started (job id = execution id,
 * job type run_tool, one attempt), or undefined for any other execution or
 * for a status that reports nothing.
 */
export function executionJobResult(subjects: Subjects, e: ExecutionRecord): OutboxMessage | undefined {
  const status = jobStatus(e.status);
  if (!e.scheduleId || !status) return undefined;
  const eventId = `${e.id}:1:${status}`;
  return outboxMessage(
    subjects.subject(jobSubject(status)),
    JobResultSchema,
    create(JobResultSchema, {
      eventId,
      jobId: e.id,
      jobType: 'run_tool',
      resourceType: 'tool',
      resourceId: e.toolId,
      ownerId: e.ownerId,
      status,
      attempt: 1,
      maxAttempts: 1,
      error: status === 'failed' ? reason(e) : '',
      detail: status === 'running' ? `execution ${e.id} running` : `execution ${e.id} ${e.status.replace('_', ' ')}${e.durationMs !== null ? ` in ${e.durationMs} ms` : ''}`,
      startedAtMs: ms(e.startedAt),
      finishedAtMs: status === 'running' ? 0n : ms(e.completedAt),
      scheduleId: e.scheduleId,
      scheduleRunId: e.scheduleRunId ?? '',
    }),
    { eventId, aggregate: `execution:${e.id}` },
  );
}
