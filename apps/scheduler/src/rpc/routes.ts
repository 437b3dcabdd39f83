import type { ConnectRouter } from '@connectrpc/connect';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createAlertsRpc } from '../alerts/alerts.rpc.ts';
import type { AlertServiceDeps } from '../alerts/alert.service.ts';
import { createJobsRpc } from '../jobs/jobs.rpc.ts';
import type { JobRepository } from '../jobs/job.repository.ts';
import { createSchedulesRpc, type SchedulesRpcDeps } from '../schedules/schedules.rpc.ts';

export interface RouteDeps {
  readonly jobs: () => JobRepository;
  readonly alerts: AlertServiceDeps;
  readonly schedules: SchedulesRpcDeps;
}

/** SchedulerService: each piece (jobs, alerts, schedules) contributes its handlers. */
export function createRoutes(runtime: ServiceRuntime, deps: RouteDeps) {
  return (router: ConnectRouter) => {
    router.service(SchedulerService, {
      ...getInfoHandler(runtime),
      ...createJobsRpc({ jobs: deps.jobs }),
      ...createAlertsRpc(deps.alerts),
      ...createSchedulesRpc(deps.schedules),
    });
  };
}
