import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { JobRunSchema } from './job-runs/job-run.entity.ts';
import { JobSchema } from './jobs/job.entity.ts';
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'scheduler',
  version: pkg.version,
  schema: 'scheduler',
  rpcServices: [SchedulerService],
  // Alerts and schedules entities (if any) are added here.
  entities: [JobRunSchema, JobSchema],
  migrations,
};
