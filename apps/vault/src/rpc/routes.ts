import type { ConnectRouter } from '@connectrpc/connect';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createGrantRpc } from '../grants/grant.rpc.ts';
import type { GrantService } from '../grants/grant.service.ts';
import { createMaintenanceRpc } from '../rotation/maintenance.rpc.ts';
import type { MaintenanceService } from '../rotation/maintenance.service.ts';
import { createSecretRpc } from '../secrets/secret.rpc.ts';
import type { SecretService } from '../secrets/secret.service.ts';

export function createRoutes(runtime: ServiceRuntime, secrets: SecretService, maintenance: MaintenanceService, grants: GrantService) {
  return (router: ConnectRouter) => {
    router.service(VaultService, { ...getInfoHandler(runtime), ...createSecretRpc(secrets), ...createMaintenanceRpc(maintenance), ...createGrantRpc(grants) });
  };
}
