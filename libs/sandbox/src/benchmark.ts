import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createSandbox } from './run.ts';
import type { EgressStarter, SandboxLimits, SandboxMode } from './types.ts';

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
  /** The same with `network: true`: the egress started, the relay in front of the program, the egress closed. */
  readonly bwrapNetwork: { p50: number; p95: number };
  /** bwrapNetwork p50 − bwrap p50: what network access adds to a run's start. */
  readonly networkExtraMs: number;
}

/** A unix-socket listener that accepts and does nothing: the egress a benchmark run never uses. */
const idleEgress: EgressStarter = async (socketPath) => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

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

async function sandboxedOnce(mode: SandboxMode, egress?: EgressStarter): Promise<number> {
  const t0 = performance.now();
  const net = egress ? { network: true, egress } : { network: false };
  const r = await createSandbox({ mode }).run({ argv: ['python3', '-c', 'pass'], env: {}, ...net, limits: LIMITS });
  if (r.outcome !== 'exited' || r.exitCode !== 0) throw new Error(`sandboxed python3 failed: ${r.reason ?? r.outcome} ${r.stderr.toString()}`);
  return performance.now() - t0;
}

/**
 * Times a bare `python3 -c pass` spawn against the same through the sandbox (both modes, and bwrap with
 * `network: true`), one at a time, interleaved so machine noise hits all alike, after a warm-up of 3 each.
 * `egress` is what network runs start (default: an idle unix-socket listener; the tool runner's bench passes
 * its real proxy).
 */
export async function benchmarkSpawnOverhead(iterations: number, options: { egress?: EgressStarter } = {}): Promise<SpawnOverheadResult> {
  const egress = options.egress ?? idleEgress;
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  for (let i = 0; i < 3; i++) {
    await bareOnce();
    await sandboxedOnce('none');
    await sandboxedOnce('bwrap');
    await sandboxedOnce('bwrap', egress);
  }
  const bare: number[] = [];
  const none: number[] = [];
  const bwrap: number[] = [];
  const network: number[] = [];
  for (let i = 0; i < iterations; i++) {
    bare.push(await bareOnce());
    none.push(await sandboxedOnce('none'));
    bwrap.push(await sandboxedOnce('bwrap'));
    network.push(await sandboxedOnce('bwrap', egress));
  }
  const b = stats(bare);
  const w = stats(bwrap);
  const n = stats(network);
  return {
    iterations,
    bare: b,
    none: stats(none),
    bwrap: w,
    ratio: Math.round((w.p50 / b.p50) * 100) / 100,
    bwrapNetwork: n,
    networkExtraMs: Math.round((n.p50 - w.p50) * 100) / 100,
  };
}
