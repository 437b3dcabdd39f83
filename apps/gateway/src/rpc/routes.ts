import type { ConnectRouter } from '@connectrpc/connect';
import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createGatewayRpc } from './gateway.rpc.ts';

export function createRoutes(runtime: ServiceRuntime, rpc: Parameters<typeof createGatewayRpc>[0]) {
  return (router: ConnectRouter) => {
    router.service(GatewayService, { ...getInfoHandler(runtime), ...createGatewayRpc(rpc) });
  };
}
