import { aadFor, rewrap, type Keyring } from '@csda/crypto';
import type { Logger } from '@csda/service-kit';
import type { SecretRepository } from '../secrets/secret.repository.ts';

export interface RewrapResult {
  readonly rewrapped: number;
  readonly failed: number;
  readonly byKey: Record<string, number>;
}

/**
 * Re-wraps every data key that is not under the keyring's active KEK. Values
 * are never decrypted or rewritten; each row is updated on its own only if
 * still under its old key, so the job is resumable, idempotent and safe to run
 * twice at once. Rows whose key is missing from the keyring are counted as
 * failed and left untouched.
 */
export async function rewrapAll(repository: () => SecretRepository, keyring: Keyring, logger: Logger, operator: string, batchSize = 500): Promise<RewrapResult> {
  const before = await repository().countByKeyId();
  let rewrapped = 0;
  let failed = 0;
  let after: { secretId: string; version: number } | undefined;
  for (;;) {
    const batch = await repository().versionsNotUnder(keyring.activeId, after, batchSize);
    if (batch.length === 0) break;
    const repo = repository();
    for (const row of batch) {
      after = { secretId: row.secretId, version: row.version };
      try {
        const next = rewrap(keyring, row, aadFor(row.secretId, row.version));
        if (await repo.replaceWrappedKey(row.secretId, row.version, row.keyId, next.wrappedKey, next.keyId)) rewrapped++;
      } catch (err) {
        failed++;
        logger.error({ secret_id: row.secretId, version: row.version, key_id: row.keyId, err: { message: err instanceof Error ? err.name : 'error' } }, 'could not re-wrap data key');
      }
    }
    logger.info({ rewrapped, failed }, 'rewrap progress');
  }
  const byKey = await repository().countByKeyId();
  // Who ran it, how many, from which keys to which: never key material.
  await repository().audit({
    action: 'kek_rewrapped',
    actor: 'service:vault',
    outcome: failed > 0 ? 'failure' : 'success',
    resourceType: 'keyring',
    resourceId: keyring.activeId,
    details: {
      operator,
      rewrapped: String(rewrapped),
      failed: String(failed),
      active_key_id: keyring.activeId,
      from_key_ids: Object.keys(before).filter((k) => k !== keyring.activeId).sort().join(','),
      versions_by_key: JSON.stringify(byKey),
    },
  });
  return { rewrapped, failed, byKey };
}
