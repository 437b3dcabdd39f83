import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateDevFile } from '@csda/auth';
import { ConfigError } from '@csda/service-kit';
import { JWT_SECRET_MIN_BYTES, type Config } from '../../config.ts';

export const DEV_JWT_SECRET_FILE = 'jwt-secret';

/**
 * The HS256 key for access tokens: JWT_SECRET when set (production requires
 * it, see assertServeConfig); otherwise, outside production, a development
 * secret generated once under `<CSDA_DATA_DIR>/dev-keys/jwt-secret` (0600)
 * and shared by every gateway started from that directory (race-safe, see
 * readOrCreateDevFile).
 */
export async function resolveJwtSecret(config: Pick<Config, 'NODE_ENV' | 'JWT_SECRET' | 'CSDA_DATA_DIR'>, warn: (msg: string) => void): Promise<string> {
  if (config.JWT_SECRET !== undefined) return config.JWT_SECRET;
  if (config.NODE_ENV === 'production') throw new ConfigError(['JWT_SECRET: required when NODE_ENV=production']);
  const dir = join(config.CSDA_DATA_DIR, 'dev-keys');
  const path = join(dir, DEV_JWT_SECRET_FILE);
  let secret = await readOrCreateDevFile(dir, DEV_JWT_SECRET_FILE, () => randomBytes(48).toString('base64url'));
  secret = secret.trim();
  if (Buffer.byteLength(secret, 'utf8') < JWT_SECRET_MIN_BYTES) {
    throw new ConfigError([`JWT_SECRET: not set, and the development secret in ${path} is shorter than ${JWT_SECRET_MIN_BYTES} bytes (delete it to regenerate)`]);
  }
  warn(
    `JWT_SECRET is not set: signing access tokens with the DEVELOPMENT secret in ${path}. ` +
      'Anyone who can read that file can forge any user, administrators included. Production (NODE_ENV=production) MUST set JWT_SECRET.',
  );
  return secret;
}
