import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** File names of the development key pair inside its directory. */
export const DEV_PRIVATE_KEY_FILE = 'internal-ed25519.key';
export const DEV_PUBLIC_KEY_FILE = 'internal-ed25519.pub';

/** An Ed25519 pair as PEM text (PKCS#8 private, SPKI public). */
export interface InternalKeyPairPem {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

/** An Ed25519 pair ready for the signer and verifier. */
export interface InternalKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/**
 * Parses `INTERNAL_SIGNING_KEY`: an Ed25519 private key as PKCS#8 PEM or as
 * base64 of the PKCS#8 DER. Errors name the variable, never its content.
 */
export function parsePrivateKey(text: string, name = 'INTERNAL_SIGNING_KEY'): KeyObject {
  const input = text.trim();
  let key: KeyObject;
  try {
    key = input.startsWith('-----BEGIN')
      ? createPrivateKey({ key: input, format: 'pem' })
      : createPrivateKey({ key: decodeBase64(input), format: 'der', type: 'pkcs8' });
  } catch {
    throw new Error(`${name} is not a PKCS#8 private key (expected PEM or base64 DER)`);
  }
  requireEd25519(key, name);
  return key;
}

/**
 * Parses `INTERNAL_VERIFY_KEY`: an Ed25519 public key as SPKI PEM or as
 * base64 of the SPKI DER. A private key is refused: services must only ever
 * hold the public half. Errors name the variable, never its content.
 */
export function parsePublicKey(text: string, name = 'INTERNAL_VERIFY_KEY'): KeyObject {
  const input = text.trim();
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(input)) {
    throw new Error(`${name} holds a private key; give services only the public key (SPKI)`);
  }
  let key: KeyObject;
  try {
    key = input.startsWith('-----BEGIN')
      ? createPublicKey({ key: input, format: 'pem' })
      : createPublicKey({ key: decodeBase64(input), format: 'der', type: 'spki' });
  } catch {
    throw new Error(`${name} is not an SPKI public key (expected PEM or base64 DER)`);
  }
  requireEd25519(key, name);
  return key;
}

/** A fresh Ed25519 pair as PEM, e.g. for `INTERNAL_SIGNING_KEY` / `INTERNAL_VERIFY_KEY`. */
export function generateInternalKeyPair(): InternalKeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * Development only: the shared key pair in `<dir>/internal-ed25519.{key,pub}`,
 * created on first use (dir 0700, files 0600). Safe when several processes
 * start at once: the private key is written to a temp file and linked into
 * place, which fails if another process got there first, and the loser then
 * reads the winner's key. The public file is always derived from the private
 * one. Calls `warn` with a message saying production must set the variables.
 */
export async function loadDevKeyPair(dir: string, warn: (msg: string) => void): Promise<InternalKeyPair> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(dir, DEV_PRIVATE_KEY_FILE);
  const publicPath = join(dir, DEV_PUBLIC_KEY_FILE);

  let privatePem = await readIfExists(privatePath);
  if (privatePem === undefined) {
    await publishExclusive(privatePath, generateInternalKeyPair().privateKeyPem);
    // Whether we won or lost the race, the file on disk is the pair to use.
    privatePem = await readFile(privatePath, 'utf8');
  }
  const privateKey = parsePrivateKey(privatePem, privatePath);
  const publicKey = createPublicKey(privateKey);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  if ((await readIfExists(publicPath)) !== publicPem) {
    // Same bytes from every process (derived from the one private key), so
    // an overwriting rename is safe; it also replaces a stale public file.
    const temp = tempPath(publicPath);
    try {
      await writeFile(temp, publicPem, { flag: 'wx', mode: 0o600 });
      await rename(temp, publicPath);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  warn(
    `INTERNAL_SIGNING_KEY / INTERNAL_VERIFY_KEY are not set: using the DEVELOPMENT internal key pair in ${dir}. ` +
      'Anyone who can read that directory can mint identities for every service. ' +
      'Production (NODE_ENV=production) MUST set both variables.',
  );
  return { privateKey, publicKey };
}

/** Writes `content` to `path` only if `path` does not exist yet, never exposing a partial file. */
async function publishExclusive(path: string, content: string): Promise<void> {
  const temp = tempPath(path);
  try {
    await writeFile(temp, content, { flag: 'wx', mode: 0o600 });
    await link(temp, path);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function tempPath(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

function decodeBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) throw new Error('not base64');
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

function requireEd25519(key: KeyObject, name: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${name} must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'unknown'})`);
  }
}
