import { describe, expect, it } from 'vitest';
import { benchmarkUnwrapDecrypt } from './benchmark.ts';

describe('benchmarkUnwrapDecrypt', () => {
  it('reports throughput and ordered percentiles', () => {
    const result = benchmarkUnwrapDecrypt(200);
    expect(result.opsPerSec).toBeGreaterThan(0);
    expect(result.p50us).toBeGreaterThan(0);
    expect(result.p99us).toBeGreaterThanOrEqual(result.p50us);
    expect(() => benchmarkUnwrapDecrypt(0)).toThrow(RangeError);
  });
});
