import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { SandboxLimits } from '../src/index.ts';

export const limits = (over: Partial<SandboxLimits> = {}): SandboxLimits => ({
  wallMs: 10_000,
  cpuSeconds: 5,
  memoryBytes: 512 << 20,
  processes: 32,
  fileSizeBytes: 16 << 20,
  openFiles: 64,
  outputBytes: 1 << 20,
  ...over,
});

/** Host processes whose command line contains `marker` (pgrep -f), excluding pgrep itself. */
export function hostProcesses(marker: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** A TCP server on 127.0.0.1 counting the connections it accepts. */
export async function loopbackServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((s) => {
    n++;
    s.end('hello from the host\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, connections: () => n, close: () => new Promise((r) => server.close(() => r())) };
}
