// npm start's own nats-server: per-service NATS users with the permissions of
// libs/service-kit/src/nats-permissions.ts, on a port of its own (not the
// machine's open 4222, which `npm test` keeps using). Development passwords are
// generated once under <data>/nats-stack/passwords/; the streams are created by
// the provisioner user, as in production. When NATS_URL is set, the stack uses
// that server as it is and this file does nothing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import path from 'node:path';
import { readOrCreateDevFile } from '@csda/auth';
import { NATS_PROVISIONER, NATS_SERVICES, natsUserName, renderNatsServerConfig } from '@csda/service-kit';
import { connectHost, portFrom } from './config.ts';
import { describeExit, forget, spawnNode } from './processes.ts';

export const DEFAULT_STACK_NATS_PORT = 4223;

type Env = Readonly<Record<string, string | undefined>>;

export interface StackNatsPlan {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly namespace: string;
  readonly dir: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
}

/** Where the stack's nats-server lives, or null when NATS_URL points at a server of the user's choice. */
export function planStackNats(env: Env, dataDir: string, host: string): StackNatsPlan | null {
  if (env.NATS_URL) return null;
  const port = portFrom(env, 'CSDA_NATS_PORT', DEFAULT_STACK_NATS_PORT);
  const reach = connectHost(host);
  const dir = path.join(dataDir, 'nats-stack');
  return {
    url: `nats://${reach}:${port}`,
    host: reach.replace(/^\[|\]$/g, ''),
    port,
    namespace: env.NATS_NAMESPACE ?? '',
    dir,
    configFile: path.join(dir, 'nats-server.conf'),
    pidFile: path.join(dir, 'nats-server.pid'),
    logFile: path.join(dataDir, 'logs', 'nats-stack.log'),
  };
}

/** Each user's development password (service names and the provisioner), generated once. */
export async function stackNatsPasswords(plan: StackNatsPlan): Promise<Map<string, string>> {
  const passwords = new Map<string, string>();
  for (const role of [...NATS_SERVICES, NATS_PROVISIONER]) {
    const user = natsUserName(plan.namespace, role);
    passwords.set(user, (await readOrCreateDevFile(path.join(plan.dir, 'passwords'), user, () => randomBytes(24).toString('base64url'))).trim());
  }
  return passwords;
}

/** NATS_URL / NATS_USER / NATS_PASSWORD for one service (or the provisioner). */
export function stackNatsEnv(plan: StackNatsPlan, passwords: ReadonlyMap<string, string>, role: string): Record<string, string> {
  const user = natsUserName(plan.namespace, role);
  const password = passwords.get(user);
  if (password === undefined) throw new Error(`no NATS user for ${role}`);
  return { NATS_URL: plan.url, NATS_USER: user, NATS_PASSWORD: password };
}

function natsServerBinary(): string {
  return existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    socket.setTimeout(500, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid of this stack's nats-server from an earlier run, if it still runs with our config. */
function runningOwnServer(plan: StackNatsPlan): number | undefined {
  try {
    const pid = Number(readFileSync(plan.pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('nats-server') && cmdline.includes(plan.configFile) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function stopOwnServer(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  throw new Error(`the stack's earlier nats-server (pid ${pid}) did not stop`);
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Writes the generated configuration (0600: it holds the development
 * passwords) and (re)starts the stack's nats-server with it, detached like the
 * other local infrastructure; a server of an earlier run is restarted so
 * permission changes apply. The JetStream store persists under plan.dir.
 */
export async function startStackNats(plan: StackNatsPlan, passwords: ReadonlyMap<string, string>): Promise<void> {
  const text = renderNatsServerConfig({
    namespace: plan.namespace,
    listen: `${plan.host.includes(':') ? `[${plan.host}]` : plan.host}:${plan.port}`,
    storeDir: path.join(plan.dir, 'jetstream'),
    password: (user) => ({ value: passwords.get(user) ?? '' }),
  });
  mkdirSync(plan.dir, { recursive: true, mode: 0o700 });
  mkdirSync(path.dirname(plan.logFile), { recursive: true });
  writeFileSync(plan.configFile, text, { mode: 0o600 });
  const earlier = runningOwnServer(plan);
  if (earlier !== undefined) await stopOwnServer(earlier);
  if (await listening(plan.host, plan.port)) {
    throw new Error(`port ${plan.port} (CSDA_NATS_PORT, the stack's own NATS) is in use by another program: set CSDA_NATS_PORT to a free port`);
  }
  writeFileSync(plan.logFile, '', { flag: 'a' });
  const log = openSync(plan.logFile, 'a');
  const child = spawn(natsServerBinary(), ['-c', plan.configFile, '-P', plan.pidFile], { detached: true, stdio: ['ignore', log, log] });
  const failed = new Promise<Error>((resolve) => {
    child.once('error', (err) => resolve(new Error(`cannot run nats-server (${err.message}): install it (apt-get install nats-server) or set NATS_URL`)));
    child.once('exit', (code, signal) => resolve(new Error(`nats-server exited (${describeExit({ code, signal })}); last lines of ${plan.logFile}:\n${logTail(plan.logFile)}`)));
  });
  child.unref();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const outcome = await Promise.race([failed, sleep(100).then(() => listening(plan.host, plan.port))]);
    if (outcome instanceof Error) throw outcome;
    if (outcome) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${plan.host}:${plan.port} within 15 s; see ${plan.logFile}`);
  }
}

/** Runs the stream provisioning (libs/service-kit/src/provision/streams.ts) as the provisioner user. */
export async function provisionStackStreams(plan: StackNatsPlan, passwords: ReadonlyMap<string, string>, root: string): Promise<void> {
  const child = spawnNode({
    name: 'provision-streams',
    args: [path.join(root, 'libs/service-kit/src/provision/streams.ts')],
    env: { PATH: process.env.PATH ?? '', NATS_NAMESPACE: plan.namespace, LOG_LEVEL: 'warn', STARTUP_TIMEOUT_MS: '15000', ...stackNatsEnv(plan, passwords, NATS_PROVISIONER) },
    cwd: root,
    onStdout: () => {},
    onStderr: () => {},
  });
  const info = await child.done;
  forget(child);
  if (info.code !== 0) throw new Error(`stream provisioning failed (${describeExit(info)}):\n${child.tail.lines.join('\n')}`);
}

/**
 * npm start's NATS step: unless NATS_URL is set, (re)start the stack's own
 * nats-server, provision the streams, and give every service its own user
 * (NATS_URL / NATS_USER / NATS_PASSWORD merged into its env). Returns a line
 * for the console, or null when the stack uses the given NATS_URL as it is.
 */
export async function prepareStackNats(
  services: readonly { name: string; env: Record<string, string> }[],
  opts: { env: Env; dataDir: string; host: string; root: string },
): Promise<string | null> {
  const plan = planStackNats(opts.env, opts.dataDir, opts.host);
  if (!plan) return null;
  const passwords = await stackNatsPasswords(plan);
  await startStackNats(plan, passwords);
  await provisionStackStreams(plan, passwords, opts.root);
  for (const svc of services) Object.assign(svc.env, stackNatsEnv(plan, passwords, svc.name));
  const rel = path.relative(opts.root, plan.logFile);
  return `nats ${plan.host}:${plan.port} (the stack's own, one user per service; log ${rel.startsWith('..') ? plan.logFile : rel})`;
}
