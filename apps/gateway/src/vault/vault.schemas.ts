import { ROLE_NAME_PATTERN } from '@csda/auth';
import type { Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';

const isoOrNull = z.iso.datetime({ offset: true }).nullable();

export const rotationSchema = z
  .object({
    enabled: z.boolean(),
    interval_days: z.number().int().min(1).max(3650).nullable(),
    strategy: z.enum(['manual', 'random']),
    next_rotation_at: isoOrNull,
    last_rotated_at: isoOrNull,
  })
  .meta({ id: 'RotationSettings' });

export const secretSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    tags: z.array(z.string()),
    owner_id: z.string(),
    shared_with_roles: z.array(z.string()),
    expires_at: isoOrNull,
    is_active: z.boolean(),
    rotation: rotationSchema,
    current_version: z.number().int(),
    created_at: z.iso.datetime({ offset: true }),
    updated_at: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'Secret', description: 'Secret metadata. Never carries the value.' });

const rotationInput = z.object({
  enabled: z.boolean().default(false),
  interval_days: z.number().int().min(1).max(3650).nullable().default(null),
  strategy: z.enum(['manual', 'random']).default('manual'),
});

export const createSecretBody = z.object({
  name: z.string().min(1).max(255),
  value: z.string().min(1).max(65_536),
  description: z.string().max(2_000).default(''),
  tags: z.array(z.string().min(1).max(64)).max(50).default([]),
  shared_with_roles: z.array(z.string().regex(ROLE_NAME_PATTERN)).max(20).default([]),
  expires_at: z.iso.datetime({ offset: true }).nullable().default(null),
  rotation: rotationInput.optional(),
});

export const updateSecretBody = z
  .object({
    name: z.string().min(1).max(255),
    description: z.string().max(2_000),
    tags: z.array(z.string().min(1).max(64)).max(50),
    shared_with_roles: z.array(z.string().regex(ROLE_NAME_PATTERN)).max(20),
    expires_at: z.iso.datetime({ offset: true }).nullable(),
    is_active: z.boolean(),
    rotation: rotationInput,
  })
  .partial()
  .strict();

export const listQuery = pageQuery.extend({
  tag: z.string().max(64).optional(),
  name_prefix: z.string().max(255).optional(),
});
export const revealQuery = z.object({ version: z.coerce.number().int().min(1).optional() });
export const revealResponse = z.object({ value: z.string(), version: z.number().int() }).meta({ id: 'SecretValue' });
export const putValueBody = z.object({ value: z.string().min(1).max(65_536), expected_version: z.number().int().min(0).optional() });
export const rotateBody = z.object({ value: z.string().min(1).max(65_536).optional() }).default({});
export const versionSchema = z
  .object({ version: z.number().int(), key_id: z.string(), created_by: z.string(), created_at: z.iso.datetime({ offset: true }), is_current: z.boolean() })
  .meta({ id: 'SecretVersion' });

const iso = (ms: bigint) => (ms > 0n ? new Date(Number(ms)).toISOString() : null);

export function secretToJson(s: Secret): z.infer<typeof secretSchema> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    tags: s.tags,
    owner_id: s.ownerId,
    shared_with_roles: s.sharedWithRoles,
    expires_at: iso(s.expiresAtMs),
    is_active: s.isActive,
    rotation: {
      enabled: s.rotation?.enabled ?? false,
      interval_days: s.rotation?.intervalDays || null,
      strategy: s.rotation?.strategy === 'random' ? 'random' : 'manual',
      next_rotation_at: iso(s.rotation?.nextRotationAtMs ?? 0n),
      last_rotated_at: iso(s.rotation?.lastRotatedAtMs ?? 0n),
    },
    current_version: s.currentVersion,
    created_at: iso(s.createdAtMs) ?? new Date(0).toISOString(),
    updated_at: iso(s.updatedAtMs) ?? new Date(0).toISOString(),
  };
}

export const msFromIso = (value: string | null | undefined) => (value ? BigInt(Date.parse(value)) : 0n);
