import { describe, expect, it } from 'vitest';
import { seededRandom, zipfSampler } from './cache.ts';

describe('bench cache samplers', () => {
  it('seeded random is uniform in [0, 1) and repeatable', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(seededRandom(43)()).not.toBe(seededRandom(42)());
  });

  it('draws ranks with P(k) ∝ 1 / (k + 1)^s', () => {
    const n = 50;
    const s = 1.1;
    const draw = zipfSampler(n, s, seededRandom(7));
    const counts = new Array<number>(n).fill(0);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) counts[draw()]!++;
    const norm = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s).reduce((a, b) => a + b, 0);
    for (const k of [0, 1, 2, 9, 49]) {
      const expected = draws / (k + 1) ** s / norm;
      expect(Math.abs(counts[k]! - expected) / expected, `rank ${k}: ${counts[k]} vs ${expected.toFixed(0)}`).toBeLessThan(0.1);
    }
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(counts[0]).toBeGreaterThan(counts[1]!);
  });

  it('stays in range at the edges and refuses an empty range', () => {
    expect(zipfSampler(1, 1.1, () => 0.999999)()).toBe(0);
    expect(zipfSampler(3, 1.1, () => 0)()).toBe(0);
    expect(zipfSampler(3, 1.1, () => 0.9999999)()).toBe(2);
    expect(() => zipfSampler(0, 1.1, Math.random)).toThrow(/n ≥ 1/);
  });
});
