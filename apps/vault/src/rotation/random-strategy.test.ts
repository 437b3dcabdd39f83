import { describe, expect, it } from 'vitest';
import { generateRandomValue } from './random-strategy.ts';
import { CHARSETS, type Charset } from './rotation-policy.ts';

describe('random strategy', () => {
  it('draws exactly `length` characters of the charset after the prefix', () => {
    for (const charset of Object.keys(CHARSETS) as Charset[]) {
      const value = generateRandomValue({ length: 40, charset, prefix: 'pk_' });
      expect(value.startsWith('pk_')).toBe(true);
      expect(value).toHaveLength(43);
      for (const c of value.slice(3)) expect(CHARSETS[charset]).toContain(c);
    }
    expect(generateRandomValue({ length: 16, charset: 'hex', prefix: '' })).toMatch(/^[0-9a-f]{16}$/);
  });

  it('never repeats and uses every character about equally often (no modulo bias)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(generateRandomValue({ length: 32, charset: 'alphanumeric', prefix: '' }));
    expect(seen.size).toBe(200);
    // 62 symbols: a modulo-256 draw would favour the first 8 (256 % 62) by 5/4. Count 124,000 draws.
    const counts = new Map<string, number>();
    for (let i = 0; i < 500; i++) for (const c of generateRandomValue({ length: 248, charset: 'alphanumeric', prefix: '' })) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = 124_000 / 62;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.12);
  });
});
