// Test vectors: the Fernet specification, https://github.com/fernet/spec
// (generate.json, verify.json, invalid.json), copied into fernet.vectors.json.
import { describe, expect, it } from 'vitest';
import { FernetError, type FernetFailure } from './errors.ts';
import { decodeFernet, encodeFernet, generateFernetKey, isFernetKey, looksLikeFernetToken } from './fernet.ts';
import vectors from './fernet.vectors.json' with { type: 'json' };

describe('Fernet spec vectors', () => {
  it('has the vectors it claims to have', () => {
    expect(vectors.generate.length).toBeGreaterThan(0);
    expect(vectors.verify.length).toBeGreaterThan(0);
    expect(vectors.invalid.length).toBe(8);
  });

  it.each(vectors.generate)('generate: $src', (v) => {
    const token = encodeFernet(Buffer.from(v.src, 'utf8'), v.secret, { iv: Buffer.from(v.iv), now: new Date(v.now) });
    expect(token).toBe(v.token);
  });

  it.each(vectors.verify)('verify: $src', (v) => {
    const value = decodeFernet(v.token, v.secret, { ttlSeconds: v.ttl_sec, now: new Date(v.now) });
    expect(value.toString('utf8')).toBe(v.src);
  });

  // Which check must catch each invalid vector: a skipped check makes the vector fail elsewhere or pass.
  const expectedReason: Readonly<Record<string, FernetFailure>> = {
    'incorrect mac': 'signature',
    'too short': 'malformed',
    'invalid base64': 'malformed',
    'payload size not multiple of block size': 'malformed',
    'payload padding error': 'decrypt',
    'far-future TS (unacceptable clock skew)': 'expired',
    'expired TTL': 'expired',
    'incorrect IV (causes padding error)': 'decrypt',
  };

  it.each(vectors.invalid)('invalid: $desc', (v) => {
    let caught: unknown;
    try {
      decodeFernet(v.token, v.secret, { ttlSeconds: v.ttl_sec, now: new Date(v.now) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FernetError);
    expect((caught as FernetError).reason).toBe(expectedReason[v.desc]);
  });
});

describe('decodeFernet', () => {
  const key = generateFernetKey();
  const now = new Date('2024-05-01T12:00:00Z');

  it('round-trips with random IVs and checks no time without a TTL', () => {
    const token = encodeFernet(Buffer.from('postgres://u:p@db/x'), key, { now: new Date('2001-01-01T00:00:00Z') });
    expect(token.startsWith('gAAAAA')).toBe(true);
    expect(decodeFernet(token, key).toString()).toBe('postgres://u:p@db/x');
    expect(encodeFernet(Buffer.from('a'), key)).not.toBe(encodeFernet(Buffer.from('a'), key));
  });

  it('applies TTL and 60 s clock skew when a TTL is given', () => {
    const token = encodeFernet(Buffer.from('v'), key, { now });
    const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
    expect(decodeFernet(token, key, { ttlSeconds: 10, now: at(10) }).toString()).toBe('v');
    expect(() => decodeFernet(token, key, { ttlSeconds: 10, now: at(11) })).toThrow(/time window/);
    expect(decodeFernet(token, key, { ttlSeconds: 10, now: at(-60) }).toString()).toBe('v');
    expect(() => decodeFernet(token, key, { ttlSeconds: 10, now: at(-61) })).toThrow(/time window/);
  });

  it('gives a reason and never echoes the token or key', () => {
    const token = encodeFernet(Buffer.from('hunter2'), key, { now });
    const reasonOf = (run: () => unknown): string => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(FernetError);
        const message = (error as Error).message;
        expect(message).not.toContain(token.slice(10, 30));
        expect(message).not.toContain(key.slice(0, 10));
        return (error as FernetError).reason;
      }
      return 'no error';
    };
    expect(reasonOf(() => decodeFernet(token, generateFernetKey()))).toBe('signature');
    expect(reasonOf(() => decodeFernet(token, 'short'))).toBe('invalid-key');
    expect(reasonOf(() => decodeFernet(token, key.slice(0, -1)))).toBe('invalid-key');
    expect(reasonOf(() => decodeFernet(token.slice(0, -4), key))).toBe('malformed');
    expect(reasonOf(() => decodeFernet(`A${token.slice(1)}`, key))).toBe('malformed');
    expect(reasonOf(() => decodeFernet(token.replace(/=+$/, ''), key))).toBe('malformed');
    expect(reasonOf(() => decodeFernet('', key))).toBe('malformed');
    expect(reasonOf(() => decodeFernet(token, key))).toBe('no error');
  });
});

describe('isFernetKey / looksLikeFernetToken', () => {
  it('recognises keys and token-shaped strings without a key', () => {
    const pad = (bytes: Buffer): string => {
      const text = bytes.toString('base64url');
      return text + '='.repeat((4 - (text.length % 4)) % 4);
    };
    const key = generateFernetKey();
    expect(isFernetKey(key)).toBe(true);
    expect(isFernetKey(key.slice(0, -2))).toBe(false);
    expect(isFernetKey(Buffer.alloc(32).toString('base64').replace(/A/g, '+'))).toBe(false);
    for (const v of vectors.verify) expect(looksLikeFernetToken(v.token)).toBe(true);
    expect(looksLikeFernetToken(encodeFernet(Buffer.alloc(0), key))).toBe(true);
    expect(looksLikeFernetToken('hunter2')).toBe(false);
    expect(looksLikeFernetToken(pad(Buffer.alloc(73)))).toBe(false);
    const wrongVersion = Buffer.alloc(73);
    wrongVersion[0] = 0x81;
    expect(looksLikeFernetToken(pad(wrongVersion))).toBe(false);
    wrongVersion[0] = 0x80;
    expect(looksLikeFernetToken(pad(wrongVersion))).toBe(true);
    expect(looksLikeFernetToken(pad(wrongVersion.subarray(0, 72)))).toBe(false);
    expect(looksLikeFernetToken(pad(wrongVersion).replace(/=+$/, ''))).toBe(false);
  });
});
