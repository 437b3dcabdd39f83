import type { ConnectRouter } from '@connectrpc/connect';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createJobsRpc } from '../jobs/jobs.rpc.ts';
import type { JobRepository } from '../jobs/job.repository.ts';

export interface RouteDeps {
  readonly jobs: () => JobRepository;
}

/**
 * SchedulerService: each piece contributes its handlers. Methods no piece
 * implements yet answer UNIMPLEMENTED.
 */
export function createRoutes(runtime: ServiceRuntime, deps: RouteDeps) {
  return (router: ConnectRouter) => {
    router.service(SchedulerService, {
      ...getInfoHandler(runtime),
      ...createJobsRpc({ jobs: deps.jobs }),
      // ...createAlertsRpc(…)     (alerts/alerts.rpc.ts)
      // ...createSchedulesRpc(…)  (schedules/schedules.rpc.ts)
    });
  };
}
