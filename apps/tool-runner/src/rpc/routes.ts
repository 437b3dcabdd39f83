import type { ConnectRouter } from '@connectrpc/connect';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(ToolRunnerService, getInfoHandler(runtime));
  };
}
