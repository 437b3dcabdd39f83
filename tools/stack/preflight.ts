// Checks before anything starts: another stack running (pid file), ports taken.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { PortUse } from './config.ts';

/** The pid of a live stack recorded in `pidFile`, if it is not this process. */
export function runningStack(pidFile: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  const cmd = commandLine(pid);
  // A recycled pid belongs to something else: the file is stale.
  return cmd === null || cmd.includes('stack/start.ts') ? pid : null;
}

export function writePidFile(pidFile: string): void {
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.writeFileSync(pidFile, `${process.pid}\n`);
}

export function removePidFile(pidFile: string): void {
  try {
    if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    // already gone
  }
}

function commandLine(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** Resolves to null when `port` can be bound on `host`, else the error code. */
export function tryBind(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen({ host: host.replace(/^\[|\]$/g, ''), port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
}

export interface TakenPort {
  use: PortUse;
  reason: string;
  /** Who listens there, when /proc tells (Linux). */
  owner: string | null;
}

export async function takenPorts(host: string, uses: readonly PortUse[]): Promise<TakenPort[]> {
  const results = await Promise.all(uses.map(async (use) => ({ use, reason: await tryBind(host, use.port) })));
  const taken = results.filter((r): r is { use: PortUse; reason: string } => r.reason !== null);
  if (taken.length === 0) return [];
  const owners = listenersByPort(new Set(taken.map((t) => t.use.port)));
  return taken.map((t) => ({ ...t, owner: owners.get(t.use.port) ?? null }));
}

/** Best effort, Linux only: "pid 123 (node apps/vault/src/main.ts serve)" per listening port. */
function listenersByPort(ports: Set<number>): Map<number, string> {
  const inodes = new Map<string, number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols[3] !== '0A') continue; // 0A = LISTEN
      const port = parseInt(local.split(':').pop() ?? '', 16);
      if (ports.has(port) && cols[9]) inodes.set(cols[9], port);
    }
  }
  const owners = new Map<number, string>();
  if (inodes.size === 0) return owners;
  let pids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return owners;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      const port = m?.[1] ? inodes.get(m[1]) : undefined;
      if (port !== undefined && !owners.has(port)) {
        owners.set(port, `pid ${pid} (${shortCommand(commandLine(Number(pid)) ?? '?')})`);
      }
    }
  }
  return owners;
}

/** "/long/path/bin/node /repo/apps/vault/src/main.ts serve" -> "node …/apps/vault/src/main.ts serve". */
export function shortCommand(cmd: string, max = 90): string {
  const words = cmd.split(' ').map((w, i) => (i === 0 ? path.basename(w) : w.replace(/^\/.*\/(apps|libs|tools)\//, '…/$1/')));
  const text = words.join(' ');
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}
