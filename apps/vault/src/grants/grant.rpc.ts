import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { SecretGrantSchema, type SecretGrant, type VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { callContext } from '../secrets/secret.rpc.ts';
import type { GrantRecord } from './grant.repository.ts';
import type { GrantService } from './grant.service.ts';

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);

export function grantToProto(g: GrantRecord): SecretGrant {
  return create(SecretGrantSchema, {
    secretId: g.secretId,
    toolId: g.toolId,
    toolName: g.toolName,
    as: g.as,
    grantedBy: g.grantedBy,
    grantedAtMs: ms(g.grantedAt),
    revokedAtMs: ms(g.revokedAt),
    revokedBy: g.revokedBy ?? '',
    revokeReason: g.revokeReason ?? '',
  });
}

/** Proto ↔ domain mapping of the grant RPCs; the rules live in the grant service. */
export function createGrantRpc(service: GrantService): Pick<ServiceImpl<typeof VaultService>, 'replaceToolGrants' | 'revokeToolGrants' | 'listSecretGrants' | 'revokeSecretGrant'> {
  return {
    async replaceToolGrants(req, ctx) {
      const result = await service.replaceToolGrants(callContext(ctx), req.toolId, req.toolName, req.grants.map((g) => ({ secretId: g.secretId, as: g.as })));
      return { items: result.items.map(grantToProto), granted: result.granted, revoked: result.revoked };
    },
    async revokeToolGrants(req, ctx) {
      return { revoked: await service.revokeToolGrants(callContext(ctx), req.toolId) };
    },
    async listSecretGrants(req, ctx) {
      const page = await service.listSecretGrants(callContext(ctx), req.secretId, { includeRevoked: req.includeRevoked, limit: req.limit, offset: req.offset });
      return { items: page.items.map(grantToProto), total: BigInt(page.total) };
    },
    async revokeSecretGrant(req, ctx) {
      return { revoked: await service.revokeSecretGrant(callContext(ctx), req.secretId, req.toolId) };
    },
  };
}
