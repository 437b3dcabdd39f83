import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FernetError } from './errors.ts';

/*
 * Fernet (https://github.com/fernet/spec/blob/master/Spec.md), the format of
 * Python's `cryptography.fernet`, used by the legacy system. Decoding only is
 * needed in production; encoding exists to build fixtures.
 *
 * token = base64url(0x80 ‖ timestamp (u64 BE, seconds) ‖ IV (16) ‖ AES-128-CBC/PKCS7 ciphertext ‖ HMAC-SHA256 (32))
 * key   = base64url(signing key (16) ‖ encryption key (16))
 */

const VERSION = 0x80;
const IV_BYTES = 16;
const BLOCK_BYTES = 16;
const HMAC_BYTES = 32;
const HEADER_BYTES = 1 + 8 + IV_BYTES;
/** Smallest valid token: header, one ciphertext block, HMAC. */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK_BYTES + HMAC_BYTES;
/** Tokens stamped further than this in the future are rejected when a TTL is checked. */
export const FERNET_MAX_CLOCK_SKEW_SECONDS = 60;

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict padded base64url, as Python's `urlsafe_b64encode` writes it; null when invalid. */
function decodeBase64Url(text: string): Buffer | null {
  if (typeof text !== 'string' || text.length === 0 || text.length % 4 !== 0 || !BASE64URL.test(text)) {
    return null;
  }
  return Buffer.from(text, 'base64url');
}

function encodeBase64Url(bytes: Buffer): string {
  const text = bytes.toString('base64url');
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

function isTokenShaped(data: Buffer): boolean {
  return (
    data.length >= MIN_TOKEN_BYTES && (data.length - HEADER_BYTES - HMAC_BYTES) % BLOCK_BYTES === 0 && data[0] === VERSION
  );
}

interface FernetKey {
  readonly signing: Buffer;
  readonly encryption: Buffer;
}

function parseKey(key: string): FernetKey {
  const raw = decodeBase64Url(key);
  if (raw === null || raw.length !== 32) {
    throw new FernetError('invalid-key');
  }
  return { signing: raw.subarray(0, 16), encryption: raw.subarray(16) };
}

function hmac(signing: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', signing).update(data).digest();
}

function epochSeconds(now: Date): number {
  const ms = now.getTime();
  if (!Number.isFinite(ms)) {
    throw new RangeError('now must be a valid Date');
  }
  return Math.floor(ms / 1000);
}

/** Options of {@link decodeFernet}. */
export interface FernetDecodeOptions {
  /**
   * Maximum token age in seconds. When set, tokens older than this, or stamped
   * more than 60 s in the future, are rejected (as Python's `decrypt(token, ttl)`).
   * When absent no time check is made (as Python's `decrypt(token)`).
   */
  readonly ttlSeconds?: number;
  /** Clock for the TTL check; defaults to the current time. */
  readonly now?: Date;
}

/**
 * Verifies and decrypts a Fernet token (spec version 0x80) with a url-safe
 * base64 32-byte key: version byte, optional TTL and clock-skew check,
 * constant-time HMAC-SHA256 check over version ‖ timestamp ‖ IV ‖ ciphertext,
 * then AES-128-CBC decryption with PKCS7 unpadding.
 * @throws FernetError (`reason` says which check failed) on an invalid key or token.
 */
export function decodeFernet(token: string, key: string, options: FernetDecodeOptions = {}): Buffer {
  const { signing, encryption } = parseKey(key);
  const data = decodeBase64Url(token);
  if (data === null || !isTokenShaped(data)) {
    throw new FernetError('malformed');
  }
  if (options.ttlSeconds !== undefined) {
    if (!Number.isFinite(options.ttlSeconds) || options.ttlSeconds < 0) {
      throw new RangeError('ttlSeconds must be a non-negative number');
    }
    const timestamp = Number(data.readBigUInt64BE(1));
    const now = epochSeconds(options.now ?? new Date());
    if (timestamp + options.ttlSeconds < now || now + FERNET_MAX_CLOCK_SKEW_SECONDS < timestamp) {
      throw new FernetError('expired');
    }
  }
  const signed = data.subarray(0, data.length - HMAC_BYTES);
  if (!timingSafeEqual(hmac(signing, signed), data.subarray(data.length - HMAC_BYTES))) {
    throw new FernetError('signature');
  }
  try {
    const decipher = createDecipheriv('aes-128-cbc', encryption, data.subarray(9, HEADER_BYTES));
    return Buffer.concat([decipher.update(signed.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new FernetError('decrypt');
  }
}

/** Options of {@link encodeFernet}. */
export interface FernetEncodeOptions {
  /** 16-byte IV; random when absent. Fixed IVs are for test vectors only. */
  readonly iv?: Buffer;
  /** Timestamp to record; the current time when absent. */
  readonly now?: Date;
}

/**
 * Builds a Fernet token, byte-for-byte what Python's `Fernet.encrypt` writes.
 * Meant for fixtures and tests of the legacy import: new data is never stored as Fernet.
 * @throws FernetError for an invalid key.
 */
export function encodeFernet(plaintext: Buffer, key: string, options: FernetEncodeOptions = {}): string {
  const { signing, encryption } = parseKey(key);
  const iv = options.iv ?? randomBytes(IV_BYTES);
  if (iv.length !== IV_BYTES) {
    throw new RangeError('iv must be 16 bytes');
  }
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(epochSeconds(options.now ?? new Date())), 1);
  iv.copy(header, 9);
  const cipher = createCipheriv('aes-128-cbc', encryption, iv);
  const signed = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
  return encodeBase64Url(Buffer.concat([signed, hmac(signing, signed)]));
}

/** True when `key` is a well-formed Fernet key (url-safe base64 of 32 bytes). */
export function isFernetKey(key: string): boolean {
  const raw = decodeBase64Url(key);
  return raw !== null && raw.length === 32;
}

/**
 * Structural check only (no key): true when `text` decodes to something shaped
 * like a Fernet token (version 0x80, whole blocks, room for IV and HMAC). Lets an
 * importer notice tokens in rows that claim to hold plaintext.
 */
export function looksLikeFernetToken(text: string): boolean {
  const data = decodeBase64Url(text);
  return data !== null && isTokenShaped(data);
}

/** Creates a random Fernet key (url-safe base64 of 32 bytes), like `Fernet.generate_key()`. */
export function generateFernetKey(): string {
  return encodeBase64Url(randomBytes(32));
}
