import { randomUUID } from 'node:crypto';
import { aadFor, encryptValue, type Keyring } from '@csda/crypto';
import type { Logger } from '@csda/service-kit';
import type { LegacySecret } from '../legacy/legacy-export.ts';
import type { SecretRepository } from '../secrets/secret.repository.ts';
import { checkName } from '../secrets/secret.validation.ts';

export interface ImportOptions {
  /** CSDA user id owning imported secrets whose legacy owner is not in `ownerMap`. */
  readonly defaultOwnerId: string;
  /** Legacy user id → CSDA user id. */
  readonly ownerMap: Readonly<Record<string, string>>;
}

export interface ImportResult {
  readonly imported: number;
  readonly skipped: number;
  readonly versions: number;
}

/**
 * Stores legacy secrets as envelope-encrypted secrets with their history.
 * Idempotent: a legacy id imported before is skipped, so a failed run can be
 * repeated. Each secret is one transaction.
 */
export async function importLegacy(
  secrets: readonly LegacySecret[],
  repository: () => SecretRepository,
  keyring: Keyring,
  options: ImportOptions,
  logger: Logger,
): Promise<ImportResult> {
  let imported = 0;
  let skipped = 0;
  let versions = 0;
  for (const legacy of secrets) {
    if (await repository().legacyImported(legacy.legacyId)) {
      skipped++;
      continue;
    }
    const id = randomUUID();
    // The Python system allowed 0 (or any number) for "no rotation"; CSDA stores 1–3650 or nothing.
    const rotationDays = legacy.rotationDays && legacy.rotationDays >= 1 && legacy.rotationDays <= 3_650 ? legacy.rotationDays : null;
    const ownerId = (legacy.ownerLegacyId && options.ownerMap[legacy.ownerLegacyId]) || options.defaultOwnerId;
    await repository().transaction(async (tx) => {
      await tx.insertSecret({
        id,
        ownerId,
        name: checkName(legacy.name),
        description: legacy.description ?? '',
        tags: legacy.tags ?? [],
        sharedWithRoles: [],
        expiresAt: legacy.expiresAt ?? null,
        isActive: legacy.isActive ?? true,
        rotationEnabled: rotationDays !== null,
        rotationIntervalDays: rotationDays,
        rotationStrategy: 'manual',
        nextRotationAt: legacy.nextRotationAt ?? null,
        lastRotatedAt: legacy.lastRotatedAt ?? null,
        createdAt: legacy.createdAt ?? undefined,
      });
      for (const [index, v] of legacy.versions.entries()) {
        const version = index + 1;
        const sealed = encryptValue(keyring, v.value, aadFor(id, version));
        v.value.fill(0);
        await tx.insertVersion(id, { version, ...sealed }, 'service:vault-import', v.createdAt ?? legacy.createdAt ?? new Date());
      }
      await tx.recordLegacyImport(legacy.legacyId, id);
      await tx.changed([{ id, ownerId, change: 'created' }]);
      await tx.audit({
        action: 'secret_imported',
        actor: 'service:vault',
        resourceType: 'secret',
        resourceId: id,
        details: { job: 'import-legacy', legacy_id: legacy.legacyId, versions: String(legacy.versions.length) },
      });
    });
    imported++;
    versions += legacy.versions.length;
    logger.info({ legacy_id: legacy.legacyId, secret_id: id, versions: legacy.versions.length }, 'imported legacy secret');
  }
  return { imported, skipped, versions };
}
