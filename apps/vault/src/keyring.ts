import { join } from 'node:path';
import { readOrCreateDevFile } from '@csda/auth';
import { generateKeyring, parseKeyring, type Keyring } from '@csda/crypto';
import { ConfigError, type CheckResult, type Logger, type ReadinessCheck, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createKeyUsageRepository, type KeyUsageRepository } from './secrets/key-usage.repository.ts';

/**
 * The key-encryption keyring: VAULT_KEYRING when set. Production refuses to
 * start without it; development generates one once under the data folder and
 * says so loudly (losing that file loses every local secret).
 */
export async function loadKeyring(env: { VAULT_KEYRING?: string | undefined; NODE_ENV: string; CSDA_DATA_DIR: string }, warn: (message: string) => void): Promise<Keyring> {
  if (env.VAULT_KEYRING) {
    try {
      return parseKeyring(env.VAULT_KEYRING);
    } catch (err) {
      throw new ConfigError([`VAULT_KEYRING: ${err instanceof Error ? err.message : 'invalid'}`]);
    }
  }
  if (env.NODE_ENV === 'production') throw new ConfigError(['VAULT_KEYRING: required when NODE_ENV=production']);
  const dir = join(env.CSDA_DATA_DIR, 'dev-keys');
  const keyring = parseKeyring(await readOrCreateDevFile(dir, 'vault-keyring.json', () => generateKeyring('dev1')));
  warn(
    `VAULT_KEYRING is not set: using the DEVELOPMENT keyring at ${join(dir, 'vault-keyring.json')}. Anyone who can read it can decrypt every local secret, and losing it loses them. Production (NODE_ENV=production) refuses to start without VAULT_KEYRING.`,
  );
  return keyring;
}

/** How long one look at the stored key ids serves readiness probes. */
export const KEY_USAGE_REFRESH_MS = 60_000;

export interface KeyringCheckDeps {
  readonly keyring: Pick<Keyring, 'keys'>;
  readonly usage: () => Pick<KeyUsageRepository, 'keyIdsInUse' | 'versionsUnder'>;
  readonly logger: Pick<Logger, 'error' | 'info'>;
  readonly refreshMs?: number;
  readonly now?: () => number;
}

/**
 * Readiness: every key_id a stored version was wrapped with is in
 * VAULT_KEYRING, so a key removed too early shows before the first reveal
 * fails. The stored key ids are looked up at most once per `refreshMs`
 * (concurrent probes share the lookup); the missing ids (never key material)
 * are logged once each time the set changes.
 */
export function keyringCheck(deps: KeyringCheckDeps): ReadinessCheck {
  const refreshMs = deps.refreshMs ?? KEY_USAGE_REFRESH_MS;
  const now = deps.now ?? Date.now;
  let cached: { at: number; result: Promise<CheckResult> } | undefined;
  let reported = '';
  const look = async (): Promise<CheckResult> => {
    const repository = deps.usage();
    const missing = (await repository.keyIdsInUse()).filter((id) => !deps.keyring.keys.has(id)).sort();
    const key = missing.join(',');
    if (key !== reported) {
      if (missing.length > 0) {
        const versions = await repository.versionsUnder(missing);
        deps.logger.error(
          { missing_key_ids: missing, missing_key_count: missing.length, versions_affected: versions },
          `${missing.length} key id(s) of stored secret versions missing from VAULT_KEYRING: ${missing.join(', ')} (${versions} version(s) cannot be revealed); not ready`,
        );
      } else if (reported !== '') {
        deps.logger.info('every stored key id is in VAULT_KEYRING again');
      }
      reported = key;
    }
    return missing.length > 0 ? { ok: false, detail: `stored versions use key id(s) missing from VAULT_KEYRING: ${missing.join(', ')}` } : { ok: true };
  };
  return () => {
    if (!cached || now() - cached.at >= refreshMs) {
      const result = look();
      cached = { at: now(), result };
      // A failed lookup (database away) is retried by the next probe, not cached.
      result.catch(() => {
        if (cached?.result === result) cached = undefined;
      });
    }
    return cached.result;
  };
}

/** Registers the keyring check on the service's readiness, over a fresh EntityManager fork per lookup. */
export function addKeyringCheck(runtime: Pick<ServiceRuntime, 'health' | 'orm' | 'logger'>, keyring: Keyring): void {
  runtime.health.addCheck('keyring', keyringCheck({ keyring, logger: runtime.logger, usage: () => createKeyUsageRepository(runtime.orm.em.fork() as EntityManager) }));
}
