import { fromBinary } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { Subjects } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import type { ExecutionRecord } from './execution.types.ts';
import { executionJobResult } from './job-results.ts';

const subjects = new Subjects('tns');
const base: ExecutionRecord = {
  id: 'e1',
  toolId: 't1',
  toolVersion: 2,
  ownerId: 'u1',
  status: 'running',
  input: { secret: 'input value' },
  output: { out: 'output value' },
  stderr: 'stderr text',
  error: null,
  truncated: false,
  exitCode: null,
  warnings: [],
  runnerId: 'r1',
  cancelRequested: false,
  createdAt: new Date(1_000),
  startedAt: new Date(2_000),
  completedAt: null,
  durationMs: null,
  idempotencyKey: 'schedule:s1:5',
  scheduleId: 's1',
  scheduleRunId: 'run1',
};
const decode = (e: Partial<ExecutionRecord>) => {
  const m = executionJobResult(subjects, { ...base, ...e });
  return m && { subject: m.subject, eventId: m.eventId, result: fromBinary(JobResultSchema, m.payload) };
};

describe('executionJobResult', () => {
  it('reports running on claim, on the tool-runner subject, one attempt, keyed by the execution', () => {
    expect(decode({})).toMatchObject({
      subject: 'tns.csda.events.tool-runner.job.running',
      eventId: 'e1:1:running',
      result: { jobId: 'e1', jobType: 'run_tool', resourceType: 'tool', resourceId: 't1', ownerId: 'u1', status: 'running', attempt: 1, maxAttempts: 1, error: '', startedAtMs: 2_000n, finishedAtMs: 0n, scheduleId: 's1', scheduleRunId: 'run1' },
    });
  });

  it('completed is succeeded; failed, timed_out and cancelled are failed with the reason', () => {
    const finished = { completedAt: new Date(5_000), durationMs: 3_000 };
    expect(decode({ ...finished, status: 'completed' })?.result).toMatchObject({ status: 'succeeded', error: '', finishedAtMs: 5_000n, detail: 'execution e1 completed in 3000 ms' });
    expect(decode({ ...finished, status: 'failed', error: { code: 'EXIT_CODE', message: 'exited with code 3' } })?.result).toMatchObject({ status: 'failed', error: 'exited with code 3 (EXIT_CODE)' });
    expect(decode({ ...finished, status: 'timed_out', error: { code: 'TIMEOUT', message: 'ran longer than 5 s' } })?.result).toMatchObject({ status: 'failed', error: 'timed out: ran longer than 5 s (TIMEOUT)' });
    expect(decode({ ...finished, status: 'cancelled', error: null })).toMatchObject({ eventId: 'e1:1:failed', result: { status: 'failed', error: 'execution cancelled' } });
  });

  it('nothing for a queued execution or one no schedule started; never the input, output or stderr', () => {
    expect(decode({ status: 'queued' })).toBeUndefined();
    expect(decode({ scheduleId: null, status: 'completed' })).toBeUndefined();
    const text = Buffer.from(executionJobResult(subjects, { ...base, status: 'completed' })!.payload).toString('latin1');
    for (const v of ['input value', 'output value', 'stderr text']) expect(text).not.toContain(v);
  });
});
