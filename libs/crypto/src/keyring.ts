import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { KeyringError } from './errors.ts';

/**
 * Key-encryption keys (KEKs) of the vault. Keys are held as `KeyObject`s so
 * the raw bytes never show up in `console.log`, `util.inspect` or
 * `JSON.stringify` of a keyring.
 */
export interface Keyring {
  /** Id of the key new data keys are wrapped with. */
  readonly activeId: string;
  /** Every known key by id (AES-256 secret keys, 32 bytes each). */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

/** Allowed key ids: they end up in the database and in AAD, so keep them boring. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Length in bytes of every key-encryption key. */
export const KEK_BYTES = 32;

// Canonical standard base64 of exactly 32 bytes: 43 characters plus one '='.
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

interface KeyringJson {
  active: string;
  keys: Record<string, string>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !KEY_ID_PATTERN.test(id)) {
    throw new KeyringError(`${what} must match ${KEY_ID_PATTERN.source}`);
  }
  return id;
}

/** Parses and validates the JSON shape without decoding keys; never echoes input. */
function readKeyringJson(text: string): KeyringJson {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new KeyringError('keyring is empty');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The SyntaxError message quotes the input, which holds keys: drop it.
    throw new KeyringError('keyring is not valid JSON');
  }
  if (!isPlainObject(parsed)) {
    throw new KeyringError('keyring must be a JSON object {"active": ..., "keys": {...}}');
  }
  const extra = Object.keys(parsed).filter((k) => k !== 'active' && k !== 'keys');
  if (extra.length > 0) {
    throw new KeyringError('keyring has unknown properties; only "active" and "keys" are allowed');
  }
  const active = checkId(parsed.active, 'keyring "active"');
  if (!isPlainObject(parsed.keys)) {
    throw new KeyringError('keyring "keys" must be an object of id → base64 key');
  }
  const keys: Record<string, string> = {};
  for (const [id, value] of Object.entries(parsed.keys)) {
    if (!KEY_ID_PATTERN.test(id)) {
      throw new KeyringError(`keyring has a key id that does not match ${KEY_ID_PATTERN.source}`);
    }
    if (typeof value !== 'string' || !KEY_BASE64.test(value)) {
      throw new KeyringError(`keyring key "${id}" must be the base64 encoding of exactly ${KEK_BYTES} bytes`);
    }
    keys[id] = value;
  }
  if (Object.keys(keys).length === 0) {
    throw new KeyringError('keyring has no keys');
  }
  if (!Object.hasOwn(keys, active)) {
    throw new KeyringError(`keyring active key "${active}" is not in "keys"`);
  }
  return { active, keys };
}

/**
 * Parses `VAULT_KEYRING` (`{"active":"k2","keys":{"k1":"<base64>","k2":"<base64>"}}`).
 * Strict: the active id must be present, every id must match {@link KEY_ID_PATTERN},
 * every key must decode to exactly 32 bytes, no other properties are allowed.
 * @throws KeyringError with a message that never contains key material.
 */
export function parseKeyring(text: string): Keyring {
  const json = readKeyringJson(text);
  const keys = new Map<string, KeyObject>();
  for (const [id, value] of Object.entries(json.keys)) {
    const raw = Buffer.from(value, 'base64');
    try {
      if (raw.length !== KEK_BYTES) {
        throw new KeyringError(`keyring key "${id}" must be the base64 encoding of exactly ${KEK_BYTES} bytes`);
      }
      keys.set(id, createSecretKey(raw));
    } finally {
      raw.fill(0);
    }
  }
  return Object.freeze({ activeId: json.active, keys });
}

function serialize(json: KeyringJson): string {
  return JSON.stringify({ active: json.active, keys: json.keys });
}

/**
 * Creates the JSON text of a fresh keyring with one random 32-byte key,
 * suitable for `VAULT_KEYRING`.
 */
export function generateKeyring(id = 'k1'): string {
  checkId(id, 'key id');
  return serialize({ active: id, keys: { [id]: randomBytes(KEK_BYTES).toString('base64') } });
}

/**
 * KEK rotation, step one: returns the keyring JSON with a new random key
 * `newId` added and made active. Old keys stay so existing data keys can still
 * be unwrapped until they are re-wrapped (see `rewrap`).
 * @throws KeyringError if the keyring is invalid or `newId` is taken or invalid.
 */
export function addKey(keyringJson: string, newId: string): string {
  checkId(newId, 'new key id');
  const json = readKeyringJson(keyringJson);
  if (Object.hasOwn(json.keys, newId)) {
    throw new KeyringError(`keyring already has a key "${newId}"`);
  }
  return serialize({ active: newId, keys: { ...json.keys, [newId]: randomBytes(KEK_BYTES).toString('base64') } });
}

/** Returns a keyring without key `id` (for tests and retiring keys after a full rewrap). */
export function removeKey(keyring: Keyring, id: string): Keyring {
  if (id === keyring.activeId) {
    throw new KeyringError('the active key cannot be removed');
  }
  const keys = new Map(keyring.keys);
  keys.delete(id);
  return Object.freeze({ activeId: keyring.activeId, keys });
}
