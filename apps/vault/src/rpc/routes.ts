import type { ConnectRouter } from '@connectrpc/connect';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(VaultService, getInfoHandler(runtime));
  };
}
