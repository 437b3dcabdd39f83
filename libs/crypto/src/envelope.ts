import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { DecryptError } from './errors.ts';
import type { Keyring } from './keyring.ts';

/**
 * A value sealed by {@link encryptValue}. All three fields are stored with the
 * row; none of them is secret on its own.
 *
 * Layouts (AES-256-GCM, 12-byte IV, 16-byte tag):
 * - `ciphertext` = IV (12) ‖ tag (16) ‖ encrypted value (same length as the plaintext),
 *   encrypted under the per-value data key with the row AAD.
 * - `wrappedKey` = IV (12) ‖ tag (16) ‖ encrypted data key (32) — always 60 bytes,
 *   encrypted under KEK `keyId` with AAD `"csda.vault.dek.v1|" ‖ keyId ‖ "|" ‖ rowAad`.
 */
export interface Sealed {
  readonly ciphertext: Buffer;
  readonly wrappedKey: Buffer;
  readonly keyId: string;
}

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DEK_BYTES = 32;
const HEADER_BYTES = IV_BYTES + TAG_BYTES;
/** Length of every `Sealed.wrappedKey`. */
export const WRAPPED_KEY_BYTES = HEADER_BYTES + DEK_BYTES;

/**
 * The additional authenticated data that binds a ciphertext to its row:
 * `csda.vault.v1|<secretId>|<version>`. The version is the last field and never
 * contains `|`, so the encoding is unambiguous for any secret id.
 * @throws TypeError / RangeError for an empty or malformed id or a non-integer version.
 */
export function aadFor(secretId: string, version: number): Buffer {
  if (typeof secretId !== 'string' || secretId.length === 0 || !secretId.isWellFormed()) {
    throw new TypeError('secretId must be a non-empty, well-formed string');
  }
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError('version must be a non-negative integer');
  }
  return Buffer.from(`csda.vault.v1|${secretId}|${version}`, 'utf8');
}

function wrapAad(keyId: string, aad: Buffer): Buffer {
  // Key ids never contain '|' (KEY_ID_PATTERN), so this is unambiguous.
  return Buffer.concat([Buffer.from(`csda.vault.dek.v1|${keyId}|`, 'utf8'), aad]);
}

function seal(key: KeyObject | Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens IV ‖ tag ‖ body; throws whatever node:crypto throws (callers map it). */
function open(key: KeyObject | Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < HEADER_BYTES) {
    throw new DecryptError();
  }
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(IV_BYTES, HEADER_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
}

function activeKek(keyring: Keyring): KeyObject {
  const kek = keyring.keys.get(keyring.activeId);
  if (kek === undefined) {
    // parseKeyring guarantees this; only a hand-built keyring gets here.
    throw new TypeError('keyring has no key for its active id');
  }
  return kek;
}

/** Unwraps the data key of `sealed`; the caller must zero the result. */
function unwrapDek(keyring: Keyring, sealed: Sealed, aad: Buffer): Buffer {
  const kek = keyring.keys.get(sealed.keyId);
  if (kek === undefined || sealed.wrappedKey.length !== WRAPPED_KEY_BYTES) {
    throw new DecryptError();
  }
  let dek: Buffer;
  try {
    dek = open(kek, sealed.wrappedKey, wrapAad(sealed.keyId, aad));
  } catch {
    throw new DecryptError();
  }
  if (dek.length !== DEK_BYTES) {
    dek.fill(0);
    throw new DecryptError();
  }
  return dek;
}

/**
 * Envelope-encrypts `plaintext`: a fresh random 32-byte data key per call
 * encrypts the value (AES-256-GCM, random 12-byte IV, `aad` authenticated), and
 * is itself wrapped by the keyring's active KEK with an AAD binding it to the key
 * id and to `aad`. The data key is zeroed before returning. See {@link Sealed}
 * for the byte layouts.
 */
export function encryptValue(keyring: Keyring, plaintext: Buffer, aad: Buffer): Sealed {
  const keyId = keyring.activeId;
  const kek = activeKek(keyring);
  const dek = randomBytes(DEK_BYTES);
  try {
    const ciphertext = seal(dek, plaintext, aad);
    const wrappedKey = seal(kek, dek, wrapAad(keyId, aad));
    return { ciphertext, wrappedKey, keyId };
  } finally {
    dek.fill(0);
  }
}

/**
 * Opens a value sealed by {@link encryptValue} with the same `aad`.
 * @throws DecryptError (one generic message) on an unknown key id, a wrong key,
 * a different AAD (value moved to another row or version), tampering or truncation.
 */
export function decryptValue(keyring: Keyring, sealed: Sealed, aad: Buffer): Buffer {
  const dek = unwrapDek(keyring, sealed, aad);
  try {
    return open(dek, sealed.ciphertext, aad);
  } catch {
    throw new DecryptError();
  } finally {
    dek.fill(0);
  }
}

/**
 * KEK rotation, step two: re-wraps the data key of `sealed` under the active
 * KEK. The ciphertext is returned untouched (same buffer). If `sealed` is
 * already under the active key, the wrapped key is still authenticated and the
 * very same object is returned, so running a rotation twice is harmless. Only
 * the wrapped key is checked, not the value ciphertext.
 * @throws DecryptError if the data key cannot be unwrapped (unknown key, tampering, wrong AAD).
 */
export function rewrap(keyring: Keyring, sealed: Sealed, aad: Buffer): Sealed {
  const dek = unwrapDek(keyring, sealed, aad);
  try {
    if (sealed.keyId === keyring.activeId) {
      return sealed;
    }
    const keyId = keyring.activeId;
    const wrappedKey = seal(activeKek(keyring), dek, wrapAad(keyId, aad));
    return { ciphertext: sealed.ciphertext, wrappedKey, keyId };
  } finally {
    dek.fill(0);
  }
}
