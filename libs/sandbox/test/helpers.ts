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

export interface StubEgress {
  /** The sandbox's EgressStarter: listens on the socket path it is given. */
  readonly start: (socketPath: string) => Promise<{ close(): Promise<void> }>;
  /** Every byte each connection sent, in order of connection. */
  readonly received: () => string[];
  /** Socket paths it was asked to listen on, and how often it was closed. */
  readonly paths: string[];
  readonly closed: () => number;
}

/**
 * A stand-in for the tool runner's egress proxy, speaking the real protocol on the unix socket: `answer` gets
 * each connection's bytes so far and the latest chunk, and returns what to write back (null: nothing yet); a
 * connection the program half-closes is ended after the answers. The real guard is tested
 * with this sandbox in the tool runner; here only the plumbing (relay, variables, socket) is under test.
 */
export function stubEgress(answer: (soFar: string, chunk: Buffer) => string | Buffer | null): StubEgress {
  const received: string[] = [];
  const paths: string[] = [];
  let closed = 0;
  return {
    received: () => [...received],
    paths,
    closed: () => closed,
    start: async (socketPath) => {
      paths.push(socketPath);
      const server = createServer((s) => {
        const i = received.push('') - 1;
        s.on('error', () => {});
        s.on('data', (d: Buffer) => {
          received[i] += d.toString('latin1');
          const reply = answer(received[i] as string, d);
          if (reply !== null) s.write(reply);
        });
        s.on('end', () => s.end());
      });
      await new Promise<void>((r) => server.listen(socketPath, r));
      return {
        close: () =>
          new Promise<void>((r) => {
            closed += 1;
            server.close(() => r());
          }),
      };
    },
  };
}
