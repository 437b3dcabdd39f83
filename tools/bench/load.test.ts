import { describe, expect, it } from 'vitest';
import { percentile, runAll, runLoad } from './load.ts';

describe('bench load helpers', () => {
  it('computes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.95)).toBe(95);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('runs a bounded closed loop and counts failures separately', async () => {
    const result = await runLoad(4, 100, async (i) => {
      await new Promise((r) => setTimeout(r, 5));
      if (i % 10 === 0) throw new Error('fail');
    });
    expect(result.requests).toBeGreaterThan(10);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.seconds).toBeLessThan(1);
    expect(result.p99).toBeGreaterThanOrEqual(result.p50);
  });

  it('runs every task exactly once', async () => {
    const seen = new Set<number>();
    await runAll(50, 7, async (i) => {
      seen.add(i);
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
