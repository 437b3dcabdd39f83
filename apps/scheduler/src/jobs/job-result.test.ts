import { create } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { describe, expect, it } from 'vitest';
import { cleanText, jobResultFact, latestPerJob, supersedes, triggerOf, type JobResultFact } from './job-result.ts';

const fact = (over: Partial<JobResultFact>): JobResultFact => ({
  jobId: 'rotate:s1:1000',
  jobType: 'rotate_secret',
  resourceType: 'secret',
  resourceId: 's1',
  ownerId: 'u1',
  status: 'running',
  attempt: 1,
  maxAttempts: 4,
  error: '',
  detail: '',
  startedAtMs: 0,
  finishedAtMs: 0,
  nextAttemptAtMs: 0,
  scheduleId: '',
  scheduleRunId: '',
  ...over,
});

describe('job result ordering', () => {
  it('moves forward by attempt, then by status within an attempt, and never after a finished status', () => {
    expect(supersedes({ attempts: 0, status: 'queued' }, { attempt: 1, status: 'running' })).toBe(true);
    expect(supersedes({ attempts: 1, status: 'running' }, { attempt: 1, status: 'retrying' })).toBe(true);
    expect(supersedes({ attempts: 1, status: 'retrying' }, { attempt: 1, status: 'running' })).toBe(false);
    expect(supersedes({ attempts: 1, status: 'retrying' }, { attempt: 2, status: 'running' })).toBe(true);
    expect(supersedes({ attempts: 2, status: 'running' }, { attempt: 1, status: 'succeeded' })).toBe(false);
    expect(supersedes({ attempts: 1, status: 'running' }, { attempt: 1, status: 'running' })).toBe(false);
    for (const done of ['succeeded', 'failed', 'dead']) {
      expect(supersedes({ attempts: 1, status: done }, { attempt: 2, status: 'succeeded' })).toBe(false);
      expect(supersedes({ attempts: 1, status: done }, { attempt: 1, status: 'dead' })).toBe(false);
    }
  });

  it('reduces a batch to the result folding all of them would leave, in any order, keeping the first start', () => {
    const results = [
      fact({ status: 'running', attempt: 1, startedAtMs: 100 }),
      fact({ status: 'retrying', attempt: 1, startedAtMs: 100, error: 'timeout' }),
      fact({ status: 'running', attempt: 2, startedAtMs: 200 }),
      fact({ status: 'succeeded', attempt: 2, startedAtMs: 200, detail: 'version 2' }),
      fact({ jobId: 'other', status: 'running' }),
    ];
    for (const order of [results, [...results].reverse(), [results[3]!, results[0]!, results[4]!, results[2]!, results[1]!]]) {
      const reduced = latestPerJob(order);
      expect(reduced).toHaveLength(2);
      expect(reduced.find((r) => r.jobId === 'rotate:s1:1000')).toMatchObject({ status: 'succeeded', attempt: 2, detail: 'version 2', startedAtMs: 100 });
    }
  });
});

describe('jobResultFact', () => {
  const valid = { eventId: 'e', jobId: 'rotate:s1:1', jobType: 'rotate_secret', resourceType: 'secret', resourceId: 's1', ownerId: 'u1', status: 'succeeded', attempt: 1 };
  it('accepts a well-formed result and cleans its texts', () => {
    const f = jobResultFact(create(JobResultSchema, { ...valid, error: 'bad\u0000thing', detail: 'x'.repeat(5_000), finishedAtMs: 5n }));
    expect(f).toMatchObject({ status: 'succeeded', error: 'bad\uFFFDthing', finishedAtMs: 5 });
    expect((f as JobResultFact).detail.length).toBe(2_000);
  });

  it('refuses what can never be recorded', () => {
    for (const bad of [{ jobId: '' }, { jobId: 'x'.repeat(301) }, { status: 'queued' }, { status: 'exploded' }, { attempt: 0 }, { ownerId: '' }, { resourceId: '' }]) {
      expect(jobResultFact(create(JobResultSchema, { ...valid, ...bad }))).toHaveProperty('problem');
    }
  });

  it('ignores absurd timestamps', () => {
    expect(jobResultFact(create(JobResultSchema, { ...valid, startedAtMs: -5n, finishedAtMs: 9_000_000_000_000_000n }))).toMatchObject({ startedAtMs: 0, finishedAtMs: 0 });
  });
});

describe('triggerOf / cleanText', () => {
  it('derives the trigger of a record created from its result', () => {
    expect(triggerOf('rotate:s:1', '')).toBe('due');
    expect(triggerOf('schedule:x:1', 'x')).toBe('schedule');
    expect(triggerOf('manual:abc', '')).toBe('manual');
  });
  it('cuts long text', () => {
    expect(cleanText('abcdef', 4)).toBe('abc…');
  });
});
