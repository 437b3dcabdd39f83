import type { ConnectRouter } from '@connectrpc/connect';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(SchedulerService, getInfoHandler(runtime));
  };
}
