import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@csda/service-kit';
import { JWT_SECRET_MIN_BYTES, type Config } from '../config.ts';

export const DEV_JWT_SECRET_FILE = 'jwt-secret';

/**
 * The HS256 key for access tokens: JWT_SECRET when set (production requires
 * it, see assertServeConfig); otherwise, outside production, a development
 * secret generated once under `<CSDA_DATA_DIR>/dev-keys/jwt-secret` (0600)
 * and shared by every gateway started from that directory. Concurrent first
 * starts are safe: the secret is written to a temp file and hard-linked into
 * place, which fails for all but one; the losers read the winner's secret.
 */
export async function resolveJwtSecret(config: Pick<Config, 'NODE_ENV' | 'JWT_SECRET' | 'CSDA_DATA_DIR'>, warn: (msg: string) => void): Promise<string> {
  if (config.JWT_SECRET !== undefined) return config.JWT_SECRET;
  if (config.NODE_ENV === 'production') throw new ConfigError(['JWT_SECRET: required when NODE_ENV=production']);
  const dir = join(config.CSDA_DATA_DIR, 'dev-keys');
  const path = join(dir, DEV_JWT_SECRET_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let secret = await readIfExists(path);
  if (secret === undefined) {
    const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temp, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    secret = await readFile(path, 'utf8');
  }
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

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
