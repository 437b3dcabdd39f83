import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';

/**
 * Ports are handed out below the kernel's ephemeral range, so no outbound
 * connection of any process can take one between freePort() and the bind of
 * the process it was meant for, and each is claimed by a file naming the
 * claiming process, so two test processes (vitest runs projects in parallel)
 * never get the same port. A binding port 0 and closing it gives neither: the
 * kernel hands the next caller, or the next outbound connection, the same port.
 */
const CLAIMS = join(tmpdir(), 'csda-test-ports');
const LOWEST = 20_000;
const claimed = new Set<string>();

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1_000 ? low : 32_768;
  } catch {
    return 32_768; // Linux's default start; other kernels' ranges start higher
  }
}
const HIGHEST = ephemeralLow() - 1;
/** The range freePort draws from: [LOWEST, HIGHEST], below the ephemeral ports. */
export const FREE_PORT_RANGE = { lowest: LOWEST, highest: HIGHEST } as const;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The claim's process id (NaN when the file is gone). */
function owner(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim() || 'NaN');
  } catch {
    return Number.NaN;
  }
}

const held = (pid: number) => Number.isInteger(pid) && (pid === process.pid || alive(pid));
const scratch = (kind: string) => join(CLAIMS, `.${kind}.${process.pid}.${randomInt(1e9)}`);

/**
 * Removes `file` if the process that claimed it has exited; false when it is
 * still held. Atomic against other processes doing the same: the claim is
 * renamed away first (only one of them can), and if it turns out to have
 * been replaced by a live claim after it was read, it is put back.
 */
function dropIfStale(file: string): boolean {
  if (held(owner(file))) return false;
  const grave = scratch('stale');
  try {
    renameSync(file, grave);
  } catch {
    return true; // gone already: the caller may try to claim it
  }
  if (!held(owner(grave))) {
    unlinkSync(grave);
    return true;
  }
  try {
    linkSync(grave, file);
  } catch {
    // someone claimed the port in the meantime: theirs stands
  }
  unlinkSync(grave);
  return false;
}

let swept = false;
/**
 * Test workers are often ended without their exit handlers running, so each
 * process's first claim drops the claims of processes that have exited.
 */
function sweepOnce(): void {
  if (swept) return;
  swept = true;
  mkdirSync(CLAIMS, { recursive: true });
  for (const entry of readdirSync(CLAIMS)) if (!entry.startsWith('.')) dropIfStale(join(CLAIMS, entry));
}

/**
 * Claims `port` for this process (false when another live process holds it);
 * a claim whose process has exited is taken over. A claim appears whole (a
 * file written aside, then hard-linked into place), so it is never read empty.
 */
export function claimPort(port: number): boolean {
  sweepOnce();
  const file = join(CLAIMS, String(port));
  const mine = scratch('claim');
  writeFileSync(mine, String(process.pid));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(mine, file);
        if (claimed.size === 0) process.once('exit', releaseAll);
        claimed.add(file);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!dropIfStale(file)) return false;
      }
    }
    return false;
  } finally {
    unlinkSync(mine);
  }
}

function releaseAll(): void {
  for (const file of claimed) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
  claimed.clear();
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on and that no other test
 * process will be given while this one runs (its claim is dropped at exit).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const port = randomInt(LOWEST, HIGHEST + 1);
    if (claimPort(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port claimable in ${LOWEST}-${HIGHEST} (claims in ${CLAIMS})`);
}

/** True when something accepts connections on 127.0.0.1:`port`. */
export async function isListening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
