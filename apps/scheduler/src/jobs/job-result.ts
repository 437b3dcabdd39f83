import type { JobResult } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { FINISHED_STATUSES, type JobStatus, type JobTrigger } from './job.entity.ts';

/** A worker's JobResult, checked and normalised for folding into a job record. */
export interface JobResultFact {
  readonly jobId: string;
  readonly jobType: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly ownerId: string;
  readonly status: Exclude<JobStatus, 'queued'>;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly error: string;
  readonly detail: string;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  readonly nextAttemptAtMs: number;
  readonly scheduleId: string;
  readonly scheduleRunId: string;
}

const RESULT_STATUSES: readonly string[] = ['running', 'succeeded', 'retrying', 'failed', 'dead'];
const MAX_TEXT = 2_000;

/**
 * Order of a job's states within one attempt. A result supersedes the record
 * only if it is for a later attempt, or the same attempt at a higher rank;
 * a finished job (succeeded, failed, dead) changes no more.
 */
export function statusRank(status: string): number {
  if (status === 'queued') return 0;
  if (status === 'running') return 1;
  if (status === 'retrying') return 2;
  return 3;
}

/** True when `next` (attempt, status) moves a job currently at `current` forward. */
export function supersedes(current: { attempts: number; status: string }, next: { attempt: number; status: string }): boolean {
  if ((FINISHED_STATUSES as readonly string[]).includes(current.status)) return false;
  if (next.attempt !== current.attempts) return next.attempt > current.attempts;
  return statusRank(next.status) > statusRank(current.status);
}

/** Of several results per job (one batch), the one that wins: folding it alone equals folding all, in any order. */
export function latestPerJob(results: readonly JobResultFact[]): JobResultFact[] {
  const byJob = new Map<string, JobResultFact>();
  const firstStart = new Map<string, number>();
  for (const r of results) {
    const held = byJob.get(r.jobId);
    if (!held || supersedes({ attempts: held.attempt, status: held.status }, r)) byJob.set(r.jobId, r);
    const start = firstStart.get(r.jobId) ?? 0;
    if (r.startedAtMs > 0 && (start === 0 || r.startedAtMs < start)) firstStart.set(r.jobId, r.startedAtMs);
  }
  return [...byJob.values()].map((r) => ({ ...r, startedAtMs: firstStart.get(r.jobId) ?? r.startedAtMs }));
}

/** What a job record created from a result (its queued row not yet there) says triggered it. */
export function triggerOf(jobId: string, scheduleId: string): JobTrigger {
  if (scheduleId) return 'schedule';
  return jobId.startsWith('rotate:') ? 'due' : 'manual';
}

/** PostgreSQL text cannot hold U+0000; long texts are cut. */
export function cleanText(value: string, max = MAX_TEXT): string {
  const text = value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Checks a decoded JobResult; the reason it can never be folded, or the fact. */
export function jobResultFact(result: JobResult): JobResultFact | { problem: string } {
  if (!result.jobId || result.jobId.length > 300) return { problem: 'job_id missing or longer than 300 characters' };
  if (!RESULT_STATUSES.includes(result.status)) return { problem: `status "${cleanText(result.status, 40)}" is not one of ${RESULT_STATUSES.join(', ')}` };
  if (!Number.isInteger(result.attempt) || result.attempt < 1) return { problem: 'attempt must be 1 or more' };
  if (!result.jobType || !result.resourceType || !result.resourceId || !result.ownerId) return { problem: 'job_type, resource_type, resource_id and owner_id are required' };
  const ms = (v: bigint) => (v > 0n && v < 8_640_000_000_000_000n ? Number(v) : 0);
  return {
    jobId: cleanText(result.jobId, 300),
    jobType: cleanText(result.jobType, 100),
    resourceType: cleanText(result.resourceType, 100),
    resourceId: cleanText(result.resourceId, 300),
    ownerId: cleanText(result.ownerId, 300),
    status: result.status as JobResultFact['status'],
    attempt: result.attempt,
    maxAttempts: Math.max(0, result.maxAttempts),
    error: cleanText(result.error),
    detail: cleanText(result.detail),
    startedAtMs: ms(result.startedAtMs),
    finishedAtMs: ms(result.finishedAtMs),
    nextAttemptAtMs: ms(result.nextAttemptAtMs),
    scheduleId: cleanText(result.scheduleId, 300),
    scheduleRunId: cleanText(result.scheduleRunId, 300),
  };
}
