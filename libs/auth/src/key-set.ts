import { createPublicKey, type KeyObject } from 'node:crypto';
import { sha256 } from '@csda/crypto';
import { parsePrivateKey, parsePublicKey } from './keys.ts';

/** A service's own signing key: the issuer it speaks for, its key id and the Ed25519 private key. */
export interface InternalSigningKey {
  readonly issuer: string;
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** One trusted public key: the issuer it belongs to and the key. */
export interface InternalVerifyKey {
  readonly issuer: string;
  readonly kid: string;
  readonly publicKey: KeyObject;
}

/** Verify keys by key id. */
export type InternalVerifyKeySet = ReadonlyMap<string, InternalVerifyKey>;

const ISSUER = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The key id of an Ed25519 public key: its RFC 7638 JWK thumbprint
 * (SHA-256, base64url). Derived from the key, so a signer and every verifier
 * agree on it without a separate setting, and a new key always has a new id.
 */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { crv, kty, x } = publicKey.export({ format: 'jwk' });
  // RFC 7638: the required members in lexicographic order, no whitespace.
  return sha256(JSON.stringify({ crv, kty, x })).toString('base64url');
}

/** `issuer`'s signing key from its private key (already parsed). */
export function signingKeyOf(issuer: string, privateKey: KeyObject): InternalSigningKey {
  if (!ISSUER.test(issuer)) throw new TypeError(`Invalid issuer name "${issuer}"`);
  return Object.freeze({ issuer, kid: keyIdOf(privateKey), privateKey });
}

/** Parses `INTERNAL_SIGNING_KEY` for `issuer`; errors name the variable, never the content. */
export function parseSigningKey(issuer: string, text: string, name = 'INTERNAL_SIGNING_KEY'): InternalSigningKey {
  return signingKeyOf(issuer, parsePrivateKey(text, name));
}

/** A verify entry for `issuer`'s public key (a private key is reduced to its public half). */
export function verifyKeyOf(issuer: string, key: KeyObject): InternalVerifyKey {
  if (!ISSUER.test(issuer)) throw new TypeError(`Invalid issuer name "${issuer}"`);
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return Object.freeze({ issuer, kid: keyIdOf(publicKey), publicKey });
}

/**
 * Parses `INTERNAL_VERIFY_KEYS`: a JSON array of `{"issuer": "<service>",
 * "key": "<SPKI PEM or base64 DER>"}`. Several keys per issuer are allowed
 * (old and new side by side while a key rotates). Every problem names the
 * variable and the entry's index, never key material.
 */
export function parseVerifyKeys(text: string, name = 'INTERNAL_VERIFY_KEYS'): InternalVerifyKey[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    throw new Error(`${name} is not JSON (expected [{"issuer": "<service>", "key": "<SPKI PEM or base64 DER>"}, …])`);
  }
  if (!Array.isArray(entries) || entries.length === 0) throw new Error(`${name} must be a non-empty JSON array of {"issuer", "key"}`);
  return entries.map((entry: unknown, i) => {
    const where = `${name}[${i}]`;
    const e = entry as Record<string, unknown> | null;
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw new Error(`${where} must be an object {"issuer", "key"}`);
    const extra = Object.keys(e).filter((k) => k !== 'issuer' && k !== 'key');
    if (extra.length > 0) throw new Error(`${where} has unknown field(s): ${extra.join(', ')}`);
    if (typeof e.issuer !== 'string' || !ISSUER.test(e.issuer)) throw new Error(`${where}.issuer must be a service name (lowercase letters, digits, -)`);
    if (typeof e.key !== 'string') throw new Error(`${where}.key must be a string`);
    return verifyKeyOf(e.issuer, parsePublicKey(e.key, `${where}.key`));
  });
}

/** Serialises verify keys in the `INTERNAL_VERIFY_KEYS` format. */
export function formatVerifyKeys(keys: readonly Pick<InternalVerifyKey, 'issuer' | 'publicKey'>[]): string {
  return JSON.stringify(keys.map((k) => ({ issuer: k.issuer, key: k.publicKey.export({ type: 'spki', format: 'pem' }).toString() })));
}

/**
 * The key set a service verifies with: only keys of issuers it trusts, by
 * key id. Keys of other issuers are left out, so their tokens fail as
 * "unknown key id".
 */
export function verifyKeySet(keys: readonly InternalVerifyKey[], trustedIssuers: readonly string[]): InternalVerifyKeySet {
  const trusted = new Set(trustedIssuers);
  const set = new Map<string, InternalVerifyKey>();
  for (const key of keys) if (trusted.has(key.issuer)) set.set(key.kid, key);
  return set;
}
