// Child processes of the stack: each in its own process group, so that stopping
// one stops everything it started; all of them tracked for shutdown.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { LineSplitter, Tail } from './lines.ts';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  name: string;
  command: string;
  proc: ChildProcess;
  pid: number;
  /** Set once the process has exited. */
  exit: ExitInfo | null;
  /** Resolves when the process has exited and its output is drained. */
  done: Promise<ExitInfo>;
  tail: Tail;
}

export interface SpawnOptions {
  name: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  onStdout: (line: string) => void;
  onStderr: (line: string) => void;
  /** Receive stdout bytes unsplit instead (bootstrap output is shown as is). */
  rawStdout?: (chunk: Buffer) => void;
}

const children = new Set<Child>();

export function liveChildren(): Child[] {
  return [...children].filter((ch) => ch.exit === null);
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

/** Runs `node <args>` (the Node running this script) in a new process group. */
export function spawnNode(opts: SpawnOptions): Child {
  const proc = spawn(process.execPath, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true, // own process group: Ctrl-C in the terminal reaches only us; we stop the groups
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new Tail(40);
  const pipe = (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void) =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      const split = new LineSplitter();
      const emit = (line: string) => {
        tail.push(line);
        onLine(line);
      };
      stream.on('data', (chunk: Buffer) => split.push(chunk).forEach(emit));
      stream.on('end', () => {
        split.flush().forEach(emit);
        resolve();
      });
      stream.on('error', () => resolve());
    });
  const stdoutDone = opts.rawStdout
    ? new Promise<void>((resolve) => {
        proc.stdout?.on('data', opts.rawStdout as (chunk: Buffer) => void);
        proc.stdout?.on('end', resolve);
        proc.stdout?.on('error', () => resolve());
      })
    : pipe(proc.stdout, opts.onStdout);
  const stderrDone = pipe(proc.stderr, opts.onStderr);
  const child: Child = {
    name: opts.name,
    command: `node ${opts.args.join(' ')}`,
    proc,
    pid: proc.pid ?? -1,
    exit: null,
    tail,
    done: new Promise<ExitInfo>((resolve) => {
      const finish = (info: ExitInfo) => {
        if (child.exit) return;
        child.exit = info;
        // Anything it started and left behind in its group goes with it (nothing left listening).
        signalGroup(child, 'SIGKILL');
        // The process is gone; output may still be in the pipes (or held open by a grandchild).
        const drained = Promise.all([stdoutDone, stderrDone]);
        const limit = new Promise((r) => setTimeout(r, 2000).unref());
        void Promise.race([drained, limit]).then(() => resolve(info));
      };
      proc.on('exit', (code, signal) => finish({ code, signal }));
      proc.on('error', (err) => {
        tail.push(String(err));
        opts.onStderr(`cannot start: ${err.message}`);
        finish({ code: 127, signal: null });
      });
    }),
  };
  children.add(child);
  return child;
}

/** Signal a child's whole process group; false when nothing was there. */
export function signalGroup(child: Child, signal: NodeJS.Signals): boolean {
  if (child.pid <= 0) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM every live child's group, wait up to `graceMs`, then SIGKILL what is
 * left. Resolves when every child has exited.
 */
export async function stopAll(graceMs: number, onStraggler: (child: Child) => void): Promise<void> {
  const live = liveChildren();
  for (const ch of live) signalGroup(ch, 'SIGTERM');
  const allDone = Promise.all(live.map((ch) => ch.done));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    allDone.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    for (const ch of liveChildren()) {
      onStraggler(ch);
      signalGroup(ch, 'SIGKILL');
    }
    await allDone;
  }
}

/** Stop tracking a finished one-shot. */
export function forget(child: Child): void {
  children.delete(child);
}

/** Immediate SIGKILL of every group (second Ctrl-C, or this process exiting abnormally). */
export function killAllNow(): void {
  for (const ch of liveChildren()) signalGroup(ch, 'SIGKILL');
}

/** GET url; resolves to the HTTP status, or a short reason when there was no answer. */
export function probe(url: string, timeoutMs = 1000): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'not listening' : err.code ?? err.message));
  });
}

/** Run `task` over `items`, at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
