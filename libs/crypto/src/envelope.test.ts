import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aadFor, decryptValue, encryptValue, rewrap, WRAPPED_KEY_BYTES, type Sealed } from './envelope.ts';
import { DecryptError } from './errors.ts';
import { addKey, generateKeyring, parseKeyring, removeKey } from './keyring.ts';

const keyringJson = generateKeyring('k1');
const keyring = parseKeyring(keyringJson);
const secretId = '6f1c2a9e-3b7d-4c1e-9a55-0d2f8e7b1c44';
const aad = aadFor(secretId, 3);
const plaintext = Buffer.from('sk-live-0123456789abcdef0123456789abcdef', 'utf8');

function expectDecryptError(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecryptError);
  expect((caught as Error).message).toBe('secret could not be decrypted');
  expect((caught as Error).cause).toBeUndefined();
}

function flip(buffer: Buffer, index: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe('aadFor', () => {
  it('binds secret id and version', () => {
    expect(aadFor('abc', 2).toString()).toBe('csda.vault.v1|abc|2');
    expect(aadFor('a|1', 2).equals(aadFor('a', 12))).toBe(false);
    expect(() => aadFor('', 1)).toThrow(TypeError);
    expect(() => aadFor('x', 1.5)).toThrow(RangeError);
    expect(() => aadFor('x', -1)).toThrow(RangeError);
  });
});

describe('encryptValue / decryptValue', () => {
  it('round-trips, including empty and large values', () => {
    for (const value of [plaintext, Buffer.alloc(0), randomBytes(100_000)]) {
      const sealed = encryptValue(keyring, value, aad);
      expect(sealed.keyId).toBe('k1');
      expect(decryptValue(keyring, sealed, aad).equals(value)).toBe(true);
    }
  });

  it('uses the documented layouts and never stores the plaintext', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    expect(sealed.ciphertext.length).toBe(12 + 16 + plaintext.length);
    expect(sealed.wrappedKey.length).toBe(WRAPPED_KEY_BYTES);
    expect(WRAPPED_KEY_BYTES).toBe(12 + 16 + 32);
    expect(sealed.ciphertext.includes(plaintext)).toBe(false);
    expect(sealed.ciphertext.includes(plaintext.subarray(0, 8))).toBe(false);
  });

  it('uses a fresh IV and data key for every encryption', () => {
    const a = encryptValue(keyring, plaintext, aad);
    const b = encryptValue(keyring, plaintext, aad);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.subarray(0, 12).equals(b.ciphertext.subarray(0, 12))).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    // Different data keys: a's wrapped key cannot open b's ciphertext.
    expectDecryptError(() => decryptValue(keyring, { ...b, wrappedKey: a.wrappedKey }, aad));
  });

  it('detects a flipped bit anywhere in ciphertext or wrapped key', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    for (let i = 0; i < sealed.ciphertext.length; i += 1) {
      expectDecryptError(() => decryptValue(keyring, { ...sealed, ciphertext: flip(sealed.ciphertext, i) }, aad));
    }
    for (let i = 0; i < sealed.wrappedKey.length; i += 1) {
      expectDecryptError(() => decryptValue(keyring, { ...sealed, wrappedKey: flip(sealed.wrappedKey, i) }, aad));
    }
    expect(decryptValue(keyring, sealed, aad).equals(plaintext)).toBe(true);
  });

  it('rejects truncated or extended input', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    for (const length of [0, 11, 27, sealed.ciphertext.length - 1]) {
      expectDecryptError(() =>
        decryptValue(keyring, { ...sealed, ciphertext: sealed.ciphertext.subarray(0, length) }, aad),
      );
    }
    expectDecryptError(() =>
      decryptValue(keyring, { ...sealed, ciphertext: Buffer.concat([sealed.ciphertext, Buffer.of(0)]) }, aad),
    );
    expectDecryptError(() =>
      decryptValue(keyring, { ...sealed, wrappedKey: sealed.wrappedKey.subarray(0, WRAPPED_KEY_BYTES - 1) }, aad),
    );
    expectDecryptError(() => decryptValue(keyring, { ...sealed, wrappedKey: Buffer.alloc(0) }, aad));
  });

  it('refuses a value copied to another row or version', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    expectDecryptError(() => decryptValue(keyring, sealed, aadFor('another-secret', 3)));
    expectDecryptError(() => decryptValue(keyring, sealed, aadFor(secretId, 4)));
    // Moving only the wrapped key to another row fails as well.
    const other = encryptValue(keyring, plaintext, aadFor('another-secret', 3));
    expectDecryptError(() => decryptValue(keyring, { ...sealed, wrappedKey: other.wrappedKey }, aad));
  });

  it('refuses a wrong key with the same id and an unknown key id', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    const impostor = parseKeyring(generateKeyring('k1'));
    expectDecryptError(() => decryptValue(impostor, sealed, aad));
    expectDecryptError(() => decryptValue(keyring, { ...sealed, keyId: 'k9' }, aad));
    const twoKeys = parseKeyring(addKey(keyringJson, 'k2'));
    expectDecryptError(() => decryptValue(twoKeys, { ...sealed, keyId: 'k2' }, aad));
  });

  it('binds the wrapped key to its key id even when two ids hold the same bytes', () => {
    const bytes = keyring.keys.get('k1')!.export().toString('base64');
    const aliased = parseKeyring(JSON.stringify({ active: 'k1', keys: { k1: bytes, alias: bytes } }));
    const sealed = encryptValue(aliased, plaintext, aad);
    expect(decryptValue(aliased, sealed, aad).equals(plaintext)).toBe(true);
    expectDecryptError(() => decryptValue(aliased, { ...sealed, keyId: 'alias' }, aad));
  });
});

describe('rewrap', () => {
  it('moves the data key to the active KEK, keeps the value, and lets the old key go', () => {
    const sealed = encryptValue(keyring, plaintext, aad);
    const rotated = parseKeyring(addKey(keyringJson, 'k2'));
    // Old rows still decrypt with the rotated keyring before rewrap.
    expect(decryptValue(rotated, sealed, aad).equals(plaintext)).toBe(true);

    const moved = rewrap(rotated, sealed, aad);
    expect(moved.keyId).toBe('k2');
    expect(moved.ciphertext).toBe(sealed.ciphertext);
    expect(moved.wrappedKey.equals(sealed.wrappedKey)).toBe(false);
    expect(decryptValue(rotated, moved, aad).equals(plaintext)).toBe(true);

    expect(rewrap(rotated, moved, aad)).toBe(moved);

    const retired = removeKey(rotated, 'k1');
    expect(decryptValue(retired, moved, aad).equals(plaintext)).toBe(true);
    expectDecryptError(() => decryptValue(retired, sealed, aad));
  });

  it('refuses to rewrap a tampered or moved value', () => {
    const sealed: Sealed = encryptValue(keyring, plaintext, aad);
    const rotated = parseKeyring(addKey(keyringJson, 'k2'));
    expectDecryptError(() => rewrap(rotated, { ...sealed, wrappedKey: flip(sealed.wrappedKey, 40) }, aad));
    expectDecryptError(() => rewrap(rotated, sealed, aadFor(secretId, 9)));
    expectDecryptError(() => rewrap(keyring, { ...sealed, wrappedKey: flip(sealed.wrappedKey, 5) }, aad));
  });
});
