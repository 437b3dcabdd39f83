import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { DueRotationSchema, type VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { MaintenanceService } from './maintenance.service.ts';

/** Proto ↔ domain mapping of the scheduler-only RPCs. */
export function createMaintenanceRpc(service: MaintenanceService): Pick<ServiceImpl<typeof VaultService>, 'listDueRotations' | 'expireSecrets' | 'warnExpiringSecrets'> {
  return {
    async listDueRotations(req, ctx) {
      const rows = await service.listDue(principalFrom(ctx), { nowMs: Number(req.nowMs), limit: req.limit, afterDueAtMs: Number(req.afterDueAtMs), afterSecretId: req.afterSecretId });
      return {
        items: rows.map((r) =>
          create(DueRotationSchema, { secretId: r.secretId, ownerId: r.ownerId, name: r.name, strategy: r.strategy, currentVersion: r.currentVersion, dueAtMs: BigInt(r.dueAt.getTime()) }),
        ),
      };
    },
    async expireSecrets(req, ctx) {
      return service.expire(principalFrom(ctx), { nowMs: Number(req.nowMs), limit: req.limit });
    },
    async warnExpiringSecrets(req, ctx) {
      return service.warnExpiring(principalFrom(ctx), { nowMs: Number(req.nowMs), thresholdDays: req.thresholdDays, limit: req.limit });
    },
  };
}
