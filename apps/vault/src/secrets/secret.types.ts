/** A secret's metadata as the vault's domain sees it (never a value). */
export interface SecretRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly sharedWithRoles: readonly string[];
  readonly expiresAt: Date | null;
  readonly isActive: boolean;
  readonly rotation: RotationRecord;
  readonly currentVersion: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const ROTATION_STRATEGIES = ['manual', 'random', 'postgres', 'webhook'] as const;
export type RotationStrategy = (typeof ROTATION_STRATEGIES)[number];

/** Stored rotation state: `pending` while a two-phase rotation has a version stored but not yet promoted. */
export type RotationState = 'ok' | 'pending' | 'failed';
/** What `rotation.status` reports (see {@link rotationStatus}). */
export const ROTATION_STATUSES = ['ok', 'due', 'overdue', 'pending', 'failed'] as const;
export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** A strategy's validated parameters (snake_case keys, as stored and as in the API). Never a value. */
export type RotationPolicy = Readonly<Record<string, string | number>>;

export interface RotationRecord {
  readonly enabled: boolean;
  readonly intervalDays: number | null;
  readonly strategy: RotationStrategy;
  readonly policy: RotationPolicy;
  readonly nextRotationAt: Date | null;
  readonly lastRotatedAt: Date | null;
  readonly state: RotationState;
  readonly lastError: string | null;
  readonly pendingVersion: number | null;
}

/**
 * The reported status: a stored failure or pending rotation first, then a
 * rotation that is due (`overdue` for manual secrets, which wait for their
 * owner), else ok. The repository's SQL filter spells the same rule.
 */
export function rotationStatus(r: RotationRecord, now = new Date()): RotationStatus {
  if (r.state === 'failed') return 'failed';
  if (r.state === 'pending') return 'pending';
  if (r.enabled && r.nextRotationAt && r.nextRotationAt.getTime() <= now.getTime()) return r.strategy === 'manual' ? 'overdue' : 'due';
  return 'ok';
}

export interface VersionRecord {
  readonly version: number;
  readonly keyId: string;
  readonly createdBy: string;
  readonly createdAt: Date;
}

/** A stored version with its sealed value (crypto layouts: @csda/crypto). */
export interface SealedVersion {
  readonly version: number;
  readonly ciphertext: Buffer;
  readonly wrappedKey: Buffer;
  readonly keyId: string;
}
