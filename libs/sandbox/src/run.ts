import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { resolveProgram, SANDBOX_PATH } from './argv.ts';
import { bwrapArgs, SANDBOX_HOME } from './bwrap-args.ts';
import { prepareEgress, PROXY_ENV } from './egress.ts';
import { formatBytes, formatSeconds } from './format.ts';
import { seccompFilter } from './seccomp.ts';
import { allocateHostUid, findHostProgram, isRoot } from './host.ts';
import type { Sandbox, SandboxLimits, SandboxMode, SandboxOutcome, SandboxRequest, SandboxResult } from './types.ts';
import { SandboxError } from './types.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIGNAL_NAMES = new Map<number, string>(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));
// Processes of bubblewrap itself counted against RLIMIT_NPROC in the sandbox's user namespace (its pid 1
// and the setup fork), so `limits.processes` is what the program may have, itself included.
const BWRAP_OWN_PROCESSES = 2;
// A network run's egress relay, and the fork it is started from (gone before the program starts).
const RELAY_PROCESSES = 2;
const KILL_GRACE_MS = 2_000;

function checkLimits(l: SandboxLimits): void {
  for (const key of ['wallMs', 'cpuSeconds', 'memoryBytes', 'processes', 'fileSizeBytes', 'openFiles', 'outputBytes'] as const) {
    const v = l?.[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new SandboxError(`limit ${key} must be a positive number`);
  }
  if (l.openFiles < 16) throw new SandboxError('limit openFiles must be at least 16 (the sandbox itself needs a few)');
}

function buildEnv(env: Record<string, string>, home: string, extra: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env ?? {})) {
    if (!ENV_NAME.test(name)) throw new SandboxError(`environment variable name "${name}" is not allowed`);
    if (typeof value !== 'string' || value.includes('\0')) throw new SandboxError(`environment variable ${name} must be a string without NUL bytes`);
    out[name] = value;
  }
  return { ...out, ...extra, PATH: SANDBOX_PATH, HOME: home, LANG: 'C.UTF-8' };
}

function prlimitArgs(l: SandboxLimits, extraProcesses: number): string[] {
  const cpu = Math.max(1, Math.ceil(l.cpuSeconds));
  return [
    `--cpu=${cpu}:${cpu + 1}`, // SIGXCPU at the limit, SIGKILL a second later if it is caught
    `--as=${Math.floor(l.memoryBytes)}`,
    `--nproc=${Math.floor(l.processes) + extraProcesses}`,
    `--fsize=${Math.floor(l.fileSizeBytes)}`,
    `--nofile=${Math.floor(l.openFiles)}`,
    '--core=0',
  ];
}

function memoryHint(stderr: Buffer): boolean {
  const tail = stderr.subarray(Math.max(0, stderr.length - 4096)).toString('utf8');
  return /MemoryError|Cannot allocate memory|out of memory|std::bad_alloc/i.test(tail);
}

interface Started {
  file: string;
  args: string[];
  cwd: string;
  home: string;
  cleanup: () => Promise<void> | void;
  /** Set by the sandbox and winning over req.env (the proxy variables of a network run). */
  env: Readonly<Record<string, string>>;
  /** Host uid/gid to run as (root only), else null. */
  hostUid: number | null;
  /** Bytes for the child's fd 3 (bwrap's --seccomp), if any. */
  fd3: Buffer | null;
  /** bwrap reports a signal death of the program as exit code 128 + n. */
  exitCodeEncodesSignal: boolean;
}

async function startBwrap(req: SandboxRequest, program: string, tools: { bwrap: string; prlimit: string }): Promise<Started> {
  const filter = seccompFilter();
  const hostUid = isRoot() ? allocateHostUid() : null;
  const egress = req.network ? await prepareEgress(req.egress, hostUid) : null;
  const args = [
    ...prlimitArgs(req.limits, BWRAP_OWN_PROCESSES + (egress ? RELAY_PROCESSES : 0)),
    '--',
    tools.bwrap,
    ...bwrapArgs({ network: req.network, tmpfsBytes: req.limits.fileSizeBytes, ...(filter ? { seccompFd: 3 } : {}), ...(egress ? { egressDir: egress.dir } : {}) }),
    '--',
    ...(egress ? egress.entry(program, req.argv.slice(1)) : [program, ...req.argv.slice(1)]),
  ];
  return {
    file: tools.prlimit,
    args,
    cwd: '/',
    home: SANDBOX_HOME,
    env: egress ? PROXY_ENV : {},
    cleanup: () => egress?.close(),
    exitCodeEncodesSignal: true,
    hostUid,
    fd3: filter,
  };
}

function startNone(req: SandboxRequest, program: string, tools: { prlimit: string }): Started {
  const dir = mkdtempSync(join(tmpdir(), 'csda-sandbox-'));
  const hostUid = isRoot() ? allocateHostUid() : null;
  if (hostUid !== null) chownSync(dir, hostUid, hostUid);
  const args = [...prlimitArgs(req.limits, 0), '--', program, ...req.argv.slice(1)];
  return {
    file: tools.prlimit,
    args,
    cwd: dir,
    home: dir,
    env: {},
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    exitCodeEncodesSignal: false,
    hostUid,
    fd3: null,
  };
}

/**
 * A sandbox runner. `bwrap`: bubblewrap with every namespace new (see bwrapArgs; the network one always), uid
 * 65534 inside, a fresh unprivileged host uid per run when the caller is root (allocateHostUid), limits applied
 * with prlimit; `network: true` adds the run's egress proxy behind a relay on 127.0.0.1:3128 (egress.ts).
 * `none` (operator's TOOLS_SANDBOX=none, development only): the
 * same limits, clean environment and a temporary working directory, as a fresh unprivileged uid when root, but no
 * namespaces — the program sees the host's files, processes and network.
 */
export function createSandbox(options: { mode: SandboxMode }): Sandbox {
  const mode = options.mode;
  if (mode !== 'bwrap' && mode !== 'none') throw new SandboxError(`unknown sandbox mode "${String(mode)}"`);
  return {
    mode,
    run: (req) => runOnce(mode, req),
  };
}

async function runOnce(mode: SandboxMode, req: SandboxRequest): Promise<SandboxResult> {
  if (!Array.isArray(req.argv) || req.argv.length === 0) throw new SandboxError('no program given');
  for (const [i, a] of req.argv.entries()) {
    if (typeof a !== 'string' || a.includes('\0')) throw new SandboxError(`argument ${i} must be a string without NUL bytes`);
  }
  checkLimits(req.limits);
  const program = resolveProgram(req.argv[0] as string);
  const prlimit = findHostProgram('prlimit');
  if (!prlimit) throw new SandboxError('prlimit (util-linux) is not installed: the sandbox cannot apply its limits');
  let started: Started;
  if (mode === 'bwrap') {
    const bwrap = findHostProgram('bwrap');
    if (!bwrap) throw new SandboxError('bubblewrap (bwrap) is not installed');
    started = await startBwrap(req, program, { bwrap, prlimit });
  } else {
    started = startNone(req, program, { prlimit });
  }
  try {
    return await execute(req, started, buildEnv(req.env, started.home, started.env));
  } finally {
    await started.cleanup();
  }
}

function execute(req: SandboxRequest, s: Started, env: Record<string, string>): Promise<SandboxResult> {
  const { limits } = req;
  const t0 = performance.now();
  return new Promise<SandboxResult>((resolve, reject) => {
    if (req.signal?.aborted) {
      resolve({ exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false, durationMs: 0, outcome: 'cancelled', reason: 'cancelled before it started' });
      return;
    }
    const child = spawn(s.file, s.args, {
      cwd: s.cwd,
      env,
      detached: true, // own session and process group: killed as a group
      stdio: s.fd3 ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
      ...(s.hostUid !== null ? { uid: s.hostUid, gid: s.hostUid } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let truncated = false;
    let stopped: { outcome: SandboxOutcome; reason: string } | null = null;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let finished = false;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const stop = (outcome: SandboxOutcome, reason: string) => {
      if (stopped || exited) return;
      stopped = { outcome, reason };
      killGroup();
    };
    const collect = (chunks: Buffer[], which: 'out' | 'err') => (chunk: Buffer) => {
      const used = which === 'out' ? outLen : errLen;
      const room = Math.max(0, limits.outputBytes - used);
      if (room > 0) {
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        if (which === 'out') outLen += part.length;
        else errLen += part.length;
      }
      if (chunk.length > room) {
        truncated = true;
        stop('output_limit', `output cut at ${formatBytes(limits.outputBytes)}`);
      }
    };
    child.stdout.on('data', collect(out, 'out'));
    child.stderr.on('data', collect(err, 'err'));
    child.stdin.on('error', () => {}); // the program may exit without reading its input (EPIPE)
    const fd3 = child.stdio[3];
    if (s.fd3 && fd3 && 'end' in fd3) {
      fd3.on('error', () => {});
      fd3.end(s.fd3);
    }
    if (req.stdin !== undefined) child.stdin.end(req.stdin);
    else child.stdin.end();

    const wall = setTimeout(() => stop('timed_out', `killed after ${formatSeconds(limits.wallMs)}`), limits.wallMs);
    const onAbort = () => stop('cancelled', 'cancelled');
    req.signal?.addEventListener('abort', onAbort, { once: true });
    let grace: NodeJS.Timeout | undefined;

    const finish = () => {
      if (finished || !exited) return;
      finished = true;
      clearTimeout(wall);
      clearTimeout(grace);
      req.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      let exitCode = exited.code;
      let signal: string | null = exited.signal;
      if (s.exitCodeEncodesSignal && exitCode !== null && exitCode > 128 && SIGNAL_NAMES.has(exitCode - 128)) {
        signal = SIGNAL_NAMES.get(exitCode - 128) ?? null;
        exitCode = null;
      }
      const durationMs = Math.round((performance.now() - t0) * 10) / 10;
      const base = { exitCode, signal, stdout, stderr, truncated, durationMs };
      if (stopped) {
        resolve({ ...base, outcome: stopped.outcome, reason: stopped.reason });
      } else if (signal) {
        const reason =
          signal === 'SIGXCPU'
            ? `CPU limit of ${Math.max(1, Math.ceil(limits.cpuSeconds))} s reached`
            : signal === 'SIGXFSZ'
              ? `file size limit of ${formatBytes(limits.fileSizeBytes)} reached`
              : memoryHint(stderr)
                ? 'memory limit reached'
                : `killed by ${signal}`;
        resolve({ ...base, outcome: 'killed', reason });
      } else if (exitCode !== 0 && memoryHint(stderr)) {
        resolve({ ...base, outcome: 'exited', reason: 'memory limit reached' });
      } else if (exitCode === 1 && s.exitCodeEncodesSignal && stdout.length === 0 && /^(bwrap|sandbox): /.test(stderr.toString('utf8'))) {
        resolve({ ...base, outcome: 'exited', reason: `the sandbox could not start: ${stderr.toString('utf8').trim().slice(0, 300)}` });
      } else {
        resolve(base.exitCode === 0 ? { ...base, outcome: 'exited' } : { ...base, outcome: 'exited', reason: `exited with code ${exitCode}` });
      }
    };

    child.on('error', (e) => {
      clearTimeout(wall);
      req.signal?.removeEventListener('abort', onAbort);
      finished = true;
      reject(new SandboxError(`the sandbox could not be started: ${e.message}`));
    });
    child.on('exit', (code, sig) => {
      exited = { code, signal: sig };
      // Whatever the program left behind in its group dies with it (bwrap: the pid namespace already did).
      killGroup();
      // Output still in the pipes is read until they close; a descendant that escaped the group and keeps
      // them open cannot hold the result past the grace period.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, KILL_GRACE_MS);
    });
    child.on('close', finish);
  });
}
