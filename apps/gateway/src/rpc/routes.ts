import type { ConnectRouter } from '@connectrpc/connect';
import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(GatewayService, getInfoHandler(runtime));
  };
}
