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

export const ROTATION_STRATEGIES = ['manual', 'random'] as const;
export type RotationStrategy = (typeof ROTATION_STRATEGIES)[number];

export interface RotationRecord {
  readonly enabled: boolean;
  readonly intervalDays: number | null;
  readonly strategy: RotationStrategy;
  readonly nextRotationAt: Date | null;
  readonly lastRotatedAt: Date | null;
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
