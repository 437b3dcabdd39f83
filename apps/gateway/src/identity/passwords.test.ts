import { parseOptions } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { ARGON2_OPTIONS, assertPasswordPolicy, createPasswordHasher, generatePassword, passwordProblem } from './passwords.ts';

describe('password policy', () => {
  it('accepts 12 to 256 characters, counted as code points', () => {
    expect(passwordProblem('a'.repeat(12))).toBeUndefined();
    expect(passwordProblem('a'.repeat(256))).toBeUndefined();
    expect(passwordProblem('🔑'.repeat(12))).toBeUndefined(); // 24 UTF-16 units, 12 characters
    expect(passwordProblem('🔑'.repeat(11))).toMatch(/at least 12/);
  });

  it('refuses short, overlong and blank passwords', () => {
    expect(passwordProblem('a'.repeat(11))).toBe('must be at least 12 characters');
    expect(passwordProblem('a'.repeat(257))).toBe('must be at most 256 characters');
    expect(passwordProblem(' '.repeat(16))).toBe('must not be blank');
  });

  it('throws VALIDATION_ERROR naming the field, never echoing the password', () => {
    const attempt = 'short-pw';
    try {
      assertPasswordPolicy(attempt);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'VALIDATION_ERROR', details: { password: 'must be at least 12 characters' } });
      expect(JSON.stringify({ message: (err as Error).message, details: (err as { details: unknown }).details })).not.toContain(attempt);
    }
  });
});

describe('password hashing', () => {
  const hasher = createPasswordHasher();

  it('uses Argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1)', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(parseOptions(hash)).toMatchObject({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(ARGON2_OPTIONS).toMatchObject({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('verifies the right password only, and survives malformed hashes', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(hash, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(hash, 'correct horse battery stapler')).toBe(false);
    expect(await hasher.verify('not-a-hash', 'correct horse battery staple')).toBe(false);
    expect(await hasher.verifyDummy('correct horse battery staple')).toBe(false);
  });
});

describe('generated passwords', () => {
  it('are url-safe, of the requested length, and different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const pw = generatePassword(32);
      expect(pw).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(passwordProblem(pw)).toBeUndefined();
      seen.add(pw);
    }
    expect(seen.size).toBe(50);
    expect(generatePassword(24)).toHaveLength(24);
  });
});
