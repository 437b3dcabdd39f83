import { describe, expect, it } from 'vitest';
import { sha256, sha256Hex } from './digest.ts';

describe('sha256', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes a string as its UTF-8 bytes', () => {
    expect(sha256('grüße')).toEqual(sha256(Buffer.from('grüße', 'utf8')));
    expect(sha256Hex('grüße')).not.toBe(sha256(Buffer.from('grüße', 'latin1')).toString('hex'));
  });

  it('returns the 32 raw bytes', () => {
    const digest = sha256(new Uint8Array([1, 2, 3]));
    expect(digest).toHaveLength(32);
    expect(digest.toString('hex')).toBe(sha256Hex(new Uint8Array([1, 2, 3])));
  });
});
