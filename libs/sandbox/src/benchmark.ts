import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createSandbox } from './run.ts';
import type { SandboxLimits, SandboxMode } from './types.ts';

/** Result of {@link benchmarkSpawnOverhead}; times in milliseconds. */
export interface SpawnOverheadResult {
  readonly iterations: number;
  /** `python3 -c pass` spawned directly by Node. */
  readonly bare: { p50: number; p95: number };
  /** The same through createSandbox({mode: 'none'}) (prlimit, uid drop, temp dir). */
  readonly none: { p50: number; p95: number };
  /** The same through createSandbox({mode: 'bwrap'}). */
  readonly bwrap: { p50: number; p95: number };
  /** bwrap p50 / bare p50. */
  readonly ratio: number;
}

const LIMITS: SandboxLimits = {
  wallMs: 10_000,
  cpuSeconds: 5,
  memoryBytes: 512 << 20,
  processes: 16,
  fileSizeBytes: 16 << 20,
  openFiles: 64,
  outputBytes: 1 << 20,
};

function stats(samples: number[]): { p50: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? 0;
  return { p50: Math.round(at(0.5) * 100) / 100, p95: Math.round(at(0.95) * 100) / 100 };
}

function bareOnce(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', 'pass'], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`python3 exited ${code}`))));
  });
}

async function sandboxedOnce(mode: SandboxMode): Promise<number> {
  const t0 = performance.now();
  const r = await createSandbox({ mode }).run({ argv: ['python3', '-c', 'pass'], env: {}, network: false, limits: LIMITS });
  if (r.outcome !== 'exited' || r.exitCode !== 0) throw new Error(`sandboxed python3 failed: ${r.reason ?? r.outcome} ${r.stderr.toString()}`);
  return performance.now() - t0;
}

/**
 * Times a bare `python3 -c pass` spawn against the same through the sandbox (both modes), one at a time,
 * interleaved so machine noise hits all three alike, after a warm-up of 3 each.
 */
export async function benchmarkSpawnOverhead(iterations: number): Promise<SpawnOverheadResult> {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  for (let i = 0; i < 3; i++) {
    await bareOnce();
    await sandboxedOnce('none');
    await sandboxedOnce('bwrap');
  }
  const bare: number[] = [];
  const none: number[] = [];
  const bwrap: number[] = [];
  for (let i = 0; i < iterations; i++) {
    bare.push(await bareOnce());
    none.push(await sandboxedOnce('none'));
    bwrap.push(await sandboxedOnce('bwrap'));
  }
  const b = stats(bare);
  const w = stats(bwrap);
  return { iterations, bare: b, none: stats(none), bwrap: w, ratio: Math.round((w.p50 / b.p50) * 100) / 100 };
}
