import { join } from 'node:path';
import { readOrCreateDevFile } from '@csda/auth';
import { generateKeyring, parseKeyring, type Keyring } from '@csda/crypto';
import { ConfigError } from '@csda/service-kit';

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
