import type { JsonObject } from '@bufbuild/protobuf';
import { ROLE_NAME_PATTERN } from '@csda/auth';
import type { RotationSettings, Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';

const isoOrNull = z.iso.datetime({ offset: true }).nullable();

export const ROTATION_STRATEGIES = ['manual', 'random', 'postgres', 'webhook'] as const;
export const ROTATION_STATUSES = ['ok', 'due', 'overdue', 'pending', 'failed'] as const;

/** Largest rotation policy accepted, as JSON text: parameters, never values. */
export const POLICY_MAX_BYTES = 4_096;

/**
 * The strategy's parameters (google.protobuf.Struct on the wire). The vault
 * validates them per strategy and names each bad field (`rotation.policy.length`…);
 * the edge only bounds their size.
 */
const policySchema = z
  .record(z.string().min(1).max(64), z.unknown())
  .refine((p) => Object.keys(p).length <= 32, { message: 'at most 32 keys' })
  .refine((p) => Buffer.byteLength(JSON.stringify(p), 'utf8') <= POLICY_MAX_BYTES, { message: `at most ${POLICY_MAX_BYTES} bytes of JSON` })
  .meta({
    description:
      'Strategy parameters. random: length (16-256), charset (alphanumeric | alphanumeric_symbols | hex | base64url), prefix. ' +
      'postgres: rotator_secret_id, password_length. webhook: url, mode (push | pull), signing_secret_id, timeout_ms. manual: none.',
  });

export const rotationSchema = z
  .object({
    enabled: z.boolean(),
    interval_days: z.number().int().min(1).max(3650).nullable(),
    strategy: z.enum(ROTATION_STRATEGIES),
    policy: z.record(z.string(), z.unknown()),
    status: z.enum(ROTATION_STATUSES).meta({ description: 'ok; due (automatic strategy, waiting for its job); overdue (manual, a new value is needed); pending (a two-phase rotation in progress); failed (see last_error)' }),
    next_rotation_at: isoOrNull,
    last_rotated_at: isoOrNull,
    last_error: z.string().nullable().meta({ description: 'Why the last rotation failed; never a value' }),
    pending_version: z.number().int().nullable().meta({ description: 'The version being rotated in (postgres two-phase), null when none' }),
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

/** Rotation settings as a whole: a PATCH carrying `rotation` replaces all of them (unset fields take these defaults). */
const rotationInput = z
  .object({
    enabled: z.boolean().default(false),
    interval_days: z.number().int().min(1).max(3650).nullable().default(null),
    strategy: z.enum(ROTATION_STRATEGIES).default('manual'),
    policy: policySchema.default({}),
  })
  .strict()
  .meta({ description: 'Replaces the rotation settings as a whole' });

/** RotationSettings for Create/UpdateSecret (output-only fields left unset). */
export function rotationToProto(r: z.infer<typeof rotationInput>) {
  return { enabled: r.enabled, intervalDays: r.interval_days ?? 0, strategy: r.strategy, policy: r.policy as JsonObject };
}

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
  rotation_status: z.enum(ROTATION_STATUSES).optional(),
});
export const revealQuery = z.object({ version: z.coerce.number().int().min(1).optional() });
export const revealResponse = z.object({ value: z.string(), version: z.number().int() }).meta({ id: 'SecretValue' });
export const putValueBody = z.object({ value: z.string().min(1).max(65_536), expected_version: z.number().int().min(0).optional() });
/** Optional: a POST without a body (null to Fastify) rotates through the strategy. */
export const rotateBody = z.object({ value: z.string().min(1).max(65_536).optional() }).strict().nullish();
export const versionSchema = z
  .object({ version: z.number().int(), key_id: z.string(), created_by: z.string(), created_at: z.iso.datetime({ offset: true }), is_current: z.boolean(), is_pending: z.boolean() })
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
    rotation: rotationToJson(s.rotation),
    current_version: s.currentVersion,
    created_at: iso(s.createdAtMs) ?? new Date(0).toISOString(),
    updated_at: iso(s.updatedAtMs) ?? new Date(0).toISOString(),
  };
}

const oneOf = <T extends string>(values: readonly T[], value: string | undefined, fallback: T): T => (values as readonly string[]).includes(value ?? '') ? (value as T) : fallback;

export function rotationToJson(r: RotationSettings | undefined): z.infer<typeof rotationSchema> {
  return {
    enabled: r?.enabled ?? false,
    interval_days: r?.intervalDays || null,
    strategy: oneOf(ROTATION_STRATEGIES, r?.strategy, 'manual'),
    policy: { ...(r?.policy ?? {}) },
    // The vault reports the status; an older vault that does not is "ok".
    status: oneOf(ROTATION_STATUSES, r?.status, 'ok'),
    next_rotation_at: iso(r?.nextRotationAtMs ?? 0n),
    last_rotated_at: iso(r?.lastRotatedAtMs ?? 0n),
    last_error: r?.lastError || null,
    pending_version: r?.pendingVersion || null,
  };
}

export const msFromIso = (value: string | null | undefined) => (value ? BigInt(Date.parse(value)) : 0n);
