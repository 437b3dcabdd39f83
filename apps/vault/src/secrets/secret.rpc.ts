import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { CLIENT_IP_HEADER, principalFrom, REQUEST_ID_HEADER } from '@csda/auth';
import { SecretSchema, SecretVersionSchema, type RotationSettings, type Secret, type VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { CallContext, SecretService } from './secret.service.ts';
import { rotationStatus, type SecretRecord } from './secret.types.ts';

/** Headers the gateway forwards for correlation (never trusted for identity). */

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);
const date = (value: bigint) => (value > 0n ? new Date(Number(value)) : null);

export function toProto(s: SecretRecord): Secret {
  return create(SecretSchema, {
    id: s.id,
    name: s.name,
    description: s.description,
    tags: [...s.tags],
    ownerId: s.ownerId,
    sharedWithRoles: [...s.sharedWithRoles],
    expiresAtMs: ms(s.expiresAt),
    isActive: s.isActive,
    rotation: {
      enabled: s.rotation.enabled,
      intervalDays: s.rotation.intervalDays ?? 0,
      strategy: s.rotation.strategy,
      nextRotationAtMs: ms(s.rotation.nextRotationAt),
      lastRotatedAtMs: ms(s.rotation.lastRotatedAt),
      policy: { ...s.rotation.policy },
      status: rotationStatus(s.rotation),
      lastError: s.rotation.lastError ?? '',
      pendingVersion: s.rotation.pendingVersion ?? 0,
    },
    currentVersion: s.currentVersion,
    createdAtMs: ms(s.createdAt),
    updatedAtMs: ms(s.updatedAt),
  });
}

const rotationIn = (r: RotationSettings | undefined) => ({ enabled: r?.enabled ?? false, intervalDays: r?.intervalDays || null, strategy: r?.strategy || 'manual', policy: r?.policy ?? {} });

export function callContext(ctx: HandlerContext): CallContext {
  return { principal: principalFrom(ctx), requestId: ctx.requestHeader.get(REQUEST_ID_HEADER) ?? '', ip: ctx.requestHeader.get(CLIENT_IP_HEADER) ?? '' };
}

/** Proto ↔ domain mapping for VaultService; the logic lives in the secret service. */
export function createSecretRpc(service: SecretService): Omit<ServiceImpl<typeof VaultService>, 'getInfo' | 'listDueRotations' | 'expireSecrets' | 'warnExpiringSecrets' | 'replaceToolGrants' | 'revokeToolGrants' | 'listSecretGrants' | 'revokeSecretGrant'> {
  return {
    async createSecret(req, ctx) {
      const secret = await service.create(callContext(ctx), {
        name: req.name,
        value: req.value,
        description: req.description,
        tags: req.tags,
        sharedWithRoles: req.sharedWithRoles,
        expiresAt: date(req.expiresAtMs),
        rotation: rotationIn(req.rotation),
      });
      return { secret: toProto(secret) };
    },
    async listSecrets(req, ctx) {
      const page = await service.list(callContext(ctx), { tag: req.tag, namePrefix: req.namePrefix, rotationStatus: req.rotationStatus, limit: req.limit, offset: req.offset });
      return { items: page.items.map(toProto), total: BigInt(page.total) };
    },
    async getSecret(req, ctx) {
      return { secret: toProto(await service.get(callContext(ctx), req.id)) };
    },
    async updateSecret(req, ctx) {
      const secret = await service.update(callContext(ctx), req.id, {
        name: req.name,
        description: req.description,
        tags: req.setTags ? req.tags : undefined,
        sharedWithRoles: req.setSharedWithRoles ? req.sharedWithRoles : undefined,
        expiresAt: req.setExpiresAt ? date(req.expiresAtMs) : undefined,
        isActive: req.isActive,
        rotation: req.rotation ? rotationIn(req.rotation) : undefined,
      });
      return { secret: toProto(secret) };
    },
    async deleteSecret(req, ctx) {
      await service.remove(callContext(ctx), req.id);
      return {};
    },
    async revealSecret(req, ctx) {
      return service.reveal(callContext(ctx), req.id, req.version, req.toolId, req.executionId);
    },
    async putSecretValue(req, ctx) {
      return { secret: toProto(await service.putValue(callContext(ctx), req.id, req.value, req.expectedVersion)) };
    },
    async listSecretVersions(req, ctx) {
      const { secret, versions } = await service.versions(callContext(ctx), req.id);
      return {
        items: versions.map((v) =>
          create(SecretVersionSchema, { version: v.version, keyId: v.keyId, createdBy: v.createdBy, createdAtMs: ms(v.createdAt), isCurrent: v.version === secret.currentVersion, isPending: v.version === secret.rotation.pendingVersion }),
        ),
      };
    },
    async rotateSecret(req, ctx) {
      return { secret: toProto(await service.rotate(callContext(ctx), req.id, req.value)) };
    },
  };
}
