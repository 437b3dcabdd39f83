import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  const file = join(dir, 'vault-keyring.json');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const warning = `VAULT_KEYRING is not set: using the DEVELOPMENT keyring at ${file}. Anyone who can read it can decrypt every local secret, and losing it loses them. Production (NODE_ENV=production) refuses to start without VAULT_KEYRING.`;
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing) {
    warn(warning);
    return parseKeyring(existing);
  }
  // Write to a private temp file, then link it into place: exactly one of several racing processes wins.
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, generateKeyring('dev1'), { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  warn(warning);
  return parseKeyring(await readFile(file, 'utf8'));
}
