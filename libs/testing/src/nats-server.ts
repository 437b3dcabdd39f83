import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, isListening } from './ports.ts';

/** Debian's nats-server (2.9), or the one on PATH. */
export const NATS_SERVER_BIN = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';

export interface TestNatsServer {
  readonly url: string;
  readonly dir: string;
  /** Everything the server printed (permission violations show up here). */
  output(): string;
  /** Stops the server, keeping its port, config and JetStream store (an outage). */
  kill(): Promise<void>;
  /** Starts it again after `kill`, on the same port with the same store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `nats-server -t` on a config: undefined when valid, else the server's complaint. */
export function checkNatsConfig(configText: string, dir: string, env: NodeJS.ProcessEnv = {}): Promise<string | undefined> {
  const file = join(dir, `check-${Date.now()}.conf`);
  return writeFile(file, configText).then(() => {
    const r = spawnSync(NATS_SERVER_BIN, ['-c', file, '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
    return r.status === 0 ? undefined : `${r.stdout}${r.stderr}`.trim();
  });
}

/**
 * Starts a private nats-server on a free port with the config `render`
 * returns (given the listen address and a JetStream store in its own temp
 * dir); never the machine's 4222.
 */
export async function startNatsServer(render: (listen: string, storeDir: string) => string, env: NodeJS.ProcessEnv = {}): Promise<TestNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'csda-nats-'));
  const port = await freePort();
  const file = join(dir, 'nats-server.conf');
  await writeFile(file, render(`127.0.0.1:${port}`, join(dir, 'jetstream')), { mode: 0o600 });
  let out = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const launch = async () => {
    const proc: ChildProcess = spawn(NATS_SERVER_BIN, ['-c', file], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    child = proc;
    const deadline = Date.now() + 10_000;
    while (!(await isListening(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nats-server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    dir,
    output: () => out,
    kill,
    restart: launch,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const provisionEntry = resolve(import.meta.dirname, '../../service-kit/src/provision/streams.ts');

/** Runs the stream-provisioning command (libs/service-kit/src/provision/streams.ts) as `user`; its exit code and output. */
export function runStreamProvisioning(url: string, namespace: string, user: string, password: string) {
  return spawnSync(process.execPath, [provisionEntry], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH, NATS_URL: url, NATS_NAMESPACE: namespace, NATS_USER: user, NATS_PASSWORD: password, LOG_LEVEL: 'silent', STARTUP_TIMEOUT_MS: '5000' },
  });
}
