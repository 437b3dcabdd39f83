import { describe, expect, it } from 'vitest';
import { benchmarkSpawnOverhead } from '../src/index.ts';

describe('sandbox spawn overhead', () => {
  it('measures bare python3 -c pass against the sandboxed one and prints the figures', async () => {
    const r = await benchmarkSpawnOverhead(40);
    process.stdout.write(
      `sandbox overhead (python3 -c pass, ${r.iterations} runs): bare p50 ${r.bare.p50} ms p95 ${r.bare.p95} ms; ` +
        `mode none p50 ${r.none.p50} ms; bwrap p50 ${r.bwrap.p50} ms p95 ${r.bwrap.p95} ms; ratio ${r.ratio}×; ` +
        `network: true p50 ${r.bwrapNetwork.p50} ms p95 ${r.bwrapNetwork.p95} ms (+${r.networkExtraMs} ms)\n`,
    );
    expect(r.bwrapNetwork.p50).toBeGreaterThan(r.bare.p50);
    expect(r.bare.p50).toBeGreaterThan(0);
    expect(r.bwrap.p50).toBeGreaterThan(r.bare.p50); // a sandbox that costs nothing did not start
    // issue 8 targets ≤ 1.5× on an idle machine; this bound only catches a regression of a different order
    expect(r.ratio).toBeLessThan(4);
    await expect(benchmarkSpawnOverhead(0)).rejects.toThrow(RangeError);
  });
});
