import { fromBinary } from '@bufbuild/protobuf';
import { ExecuteToolJobSchema, type ExecuteToolJob } from '@csda/proto/csda/jobs/v1/tool_jobs_pb.js';
import { PermanentMessageError, type DurableConsumerSpec, type Subjects } from '@csda/service-kit';

/** The tool-runner's durable on JOBS_TOOLS (its name is fixed by the NATS permissions). */
export const TOOL_JOBS_DURABLE = 'tool-runner-tool-jobs';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Delivery is only the trigger: the claim decides who runs an execution, so
 * a redelivered job (crashed replica, slow ack, or an execution a waiting
 * ExecuteTool already ran in place) never runs it twice. A job is
 * tried a few times while the database is away, then dead-lettered; its
 * execution is then failed by the sweeper if it ever started, or stays queued
 * until cancelled.
 */
export function toolJobsSpec(subjects: Subjects, ackWaitMs = 60_000): DurableConsumerSpec {
  return {
    stream: subjects.stream('JOBS_TOOLS'),
    durable: TOOL_JOBS_DURABLE,
    filterSubject: subjects.subject('csda.jobs.tools.>'),
    maxDeliver: 5,
    ackWaitMs,
    backoffMs: [1_000, 5_000, 15_000, 30_000],
  };
}

/** An ExecuteToolJob from a delivery; one that can never be run is a PermanentMessageError (dead-lettered at once). */
export function decodeToolJob(data: Uint8Array): ExecuteToolJob {
  let job: ExecuteToolJob;
  try {
    job = fromBinary(ExecuteToolJobSchema, data);
  } catch (err) {
    throw new PermanentMessageError('undecodable ExecuteToolJob', { cause: err });
  }
  if (!UUID.test(job.executionId)) throw new PermanentMessageError('ExecuteToolJob without a valid execution id');
  return job;
}
