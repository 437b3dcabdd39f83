import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatVerifyKeys, keyIdOf, parseSigningKey, parseVerifyKeys, verifyKeyOf, verifyKeySet } from './key-set.ts';
import { generateInternalKeyPair } from './keys.ts';

const problem = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a throw');
};

describe('verify key sets', () => {
  it('derives the key id from the public key (RFC 7638 thumbprint), the same from either half', () => {
    const { privateKeyPem, publicKeyPem } = generateInternalKeyPair();
    const signing = parseSigningKey('gateway', privateKeyPem);
    const [verify] = parseVerifyKeys(JSON.stringify([{ issuer: 'gateway', key: publicKeyPem }]));
    expect(signing.kid).toBe(verify!.kid);
    expect(signing.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keyIdOf(generateKeyPairSync('ed25519').publicKey)).not.toBe(signing.kid);
  });

  it('round-trips the INTERNAL_VERIFY_KEYS format, several keys per issuer', () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    const text = formatVerifyKeys([verifyKeyOf('gateway', a.publicKey), verifyKeyOf('gateway', b.privateKey)]);
    const parsed = parseVerifyKeys(text);
    expect(parsed.map((k) => [k.issuer, k.kid])).toEqual([['gateway', keyIdOf(a.publicKey)], ['gateway', keyIdOf(createPublicKey(b.privateKey))]]);
  });

  it('names the variable and the entry in every problem, never the key material', () => {
    const { privateKeyPem } = generateInternalKeyPair();
    expect(problem(() => parseVerifyKeys('{oops'))).toMatch(/^INTERNAL_VERIFY_KEYS is not JSON/);
    expect(problem(() => parseVerifyKeys('[]'))).toMatch(/^INTERNAL_VERIFY_KEYS must be a non-empty JSON array/);
    expect(problem(() => parseVerifyKeys('[{"issuer":"Gate way","key":"x"}]'))).toBe('INTERNAL_VERIFY_KEYS[0].issuer must be a service name (lowercase letters, digits, -)');
    expect(problem(() => parseVerifyKeys('[{"issuer":"gateway","key":"x","kid":"k"}]'))).toBe('INTERNAL_VERIFY_KEYS[0] has unknown field(s): kid');
    const leaked = problem(() => parseVerifyKeys(JSON.stringify([{ issuer: 'gateway', key: privateKeyPem }])));
    expect(leaked).toBe('INTERNAL_VERIFY_KEYS[0].key holds a private key; give services only the public key (SPKI)');
    expect(problem(() => parseVerifyKeys('[{"issuer":"gateway","key":"bm90IGEga2V5"}]'))).toMatch(/^INTERNAL_VERIFY_KEYS\[0\]\.key is not an SPKI public key/);
  });

  it('keeps only the keys of trusted issuers', () => {
    const keys = [verifyKeyOf('gateway', generateKeyPairSync('ed25519').publicKey), verifyKeyOf('tool-runner', generateKeyPairSync('ed25519').publicKey)];
    expect([...verifyKeySet(keys, ['gateway', 'document-ingest']).values()].map((k) => k.issuer)).toEqual(['gateway']);
  });
});
