import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateTestKeys, type TestKeys } from './keys.ts';
import { freePort } from './ports.ts';
import { provisionTestDatabase } from './roles.ts';
import { repoRoot, runNode, type RunResult } from './run-node.ts';


export const SERVICES = ['vault', 'tool-runner', 'document-ingest', 'search', 'scheduler', 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

const URL_VARS: Record<Exclude<ServiceName, 'gateway'>, string> = {
  vault: 'VAULT_URL',
  'tool-runner': 'TOOL_RUNNER_URL',
  'document-ingest': 'DOCUMENT_INGEST_URL',
  search: 'SEARCH_URL',
  scheduler: 'SCHEDULER_URL',
};


/** Runs `node apps/<service>/src/main.ts <command> [args…]` to completion. */
export function runCommand(service: ServiceName, command: string | readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<RunResult> {
  return runNode([`apps/${service}/src/main.ts`, ...(typeof command === 'string' ? [command] : command)], env, timeoutMs);
}

export interface RunningService {
  readonly name: ServiceName;
  readonly process: ChildProcess;
  readonly rpcPort: number;
  /** OPS_PORT, or GATEWAY_PORT for the gateway. */
  readonly httpPort: number;
  readonly logs: () => string;
}

/** Spawns `serve` for one service on the given ports (HTTP = OPS_PORT, or GATEWAY_PORT for the gateway). */
export function spawnService(name: ServiceName, env: Record<string, string>, rpcPort: number, httpPort: number): RunningService {
  const own = { ...env, RPC_PORT: String(rpcPort), ...(name === 'gateway' ? { GATEWAY_PORT: String(httpPort) } : { OPS_PORT: String(httpPort) }) };
  const child = spawn(process.execPath, [`apps/${name}/src/main.ts`, 'serve'], { cwd: repoRoot, env: { ...process.env, ...own }, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { name, process: child, rpcPort, httpPort, logs: () => output };
}

/**
 * Starts one service on free ports and waits until its readiness endpoint
 * answers 200 (or it exits, which throws with its output).
 */
export async function startService(name: Exclude<ServiceName, 'gateway'>, env: Record<string, string>, timeoutMs = 30_000): Promise<RunningService & { stop(): Promise<number | null> }> {
  const service = spawnService(name, env, await freePort(), await freePort());
  const stop = async () => {
    if (service.process.exitCode !== null) return service.process.exitCode;
    const exited = once(service.process, 'exit') as Promise<[number | null]>;
    service.process.kill('SIGTERM');
    return (await exited)[0];
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.process.exitCode !== null) throw new Error(`${name} exited with ${service.process.exitCode}:\n${service.logs()}`);
    if (await answersReady(service)) return { ...service, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`${name} not ready in time:\n${service.logs()}`);
}

export interface Stack {
  readonly services: Record<ServiceName, RunningService>;
  readonly gatewayUrl: string;
  /** Environment shared by every service (each also gets its own INTERNAL_SIGNING_KEY). */
  readonly env: Record<string, string>;
  /** The stack's key material: sign as any service with `keys.signingKeys[<service>]`. */
  readonly keys: TestKeys;
  /** The environment one service runs with (its DATABASE_URL names its own role). */
  envFor(name: ServiceName): Record<string, string>;
  /** Each service's DATABASE_URL: its own PostgreSQL role (`env.DATABASE_URL` is the admin URL). */
  readonly databaseUrls: Readonly<Record<ServiceName, string>>;
  /** SIGTERM to all, waits for every exit; returns exit codes by service. */
  stop(): Promise<Record<string, number | null>>;
}

export interface StackOptions {
  readonly databaseUrl: string;
  readonly namespace: string;
  readonly env?: Record<string, string>;
  readonly readyTimeoutMs?: number;
  /** Password of the bootstrapped `admin` (default a fixed test password). */
  readonly adminPassword?: string;
  /** Per-service additions (e.g. each service's own NATS_USER / NATS_PASSWORD), applied last. */
  readonly serviceEnv?: (name: ServiceName) => Record<string, string>;
}

/**
 * Migrates and starts all six services as real processes on free ports,
 * against an isolated database and NATS namespace, and waits until the
 * gateway reports every service ready.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const keys = generateTestKeys();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    DATABASE_URL: options.databaseUrl,
    NATS_NAMESPACE: options.namespace,
    REDIS_KEY_PREFIX: `${options.namespace}:`,
    ...keys.env,
    ADMIN_INITIAL_PASSWORD: options.adminPassword ?? 'test-admin-password-0123456789',
    ...options.env,
  };
  const ports = new Map<ServiceName, { rpc: number; http: number }>();
  for (const name of SERVICES) ports.set(name, { rpc: await freePort(), http: await freePort() });
  for (const name of SERVICES) {
    env[name === 'gateway' ? 'GATEWAY_URL' : URL_VARS[name]] = `http://127.0.0.1:${ports.get(name)!.rpc}`;
  }
  // The gateway's ops port (in production its /metrics is served only there); spawnService gives the others their httpPort.
  env.OPS_PORT = String(await freePort());

  // Every service, its migrate and bootstrap run as its own role, as in production.
  const databaseUrls = await provisionTestDatabase(options.databaseUrl);
  const envFor = (name: ServiceName) => ({
    ...env,
    ...(keys.signingKeys[name] ? { INTERNAL_SIGNING_KEY: keys.signingKeys[name] } : {}),
    DATABASE_URL: databaseUrls[name],
    ...options.env,
    ...options.serviceEnv?.(name),
  });
  const migrations = await Promise.all(SERVICES.map((name) => runCommand(name, 'migrate', envFor(name))));
  migrations.forEach((result, i) => {
    if (result.code !== 0) throw new Error(`${SERVICES[i]} migrate exited ${result.code}: ${result.stderr}${result.stdout}`);
  });
  const bootstrap = await runCommand('gateway', 'bootstrap', envFor('gateway'));
  if (bootstrap.code !== 0) throw new Error(`gateway bootstrap exited ${bootstrap.code}: ${bootstrap.stderr}`);

  const services = {} as Record<ServiceName, RunningService>;
  for (const name of SERVICES) {
    const { rpc, http } = ports.get(name)!;
    services[name] = spawnService(name, envFor(name), rpc, http);
  }

  const stack: Stack = {
    services,
    env,
    keys,
    envFor,
    databaseUrls,
    gatewayUrl: `http://127.0.0.1:${services.gateway.httpPort}`,
    async stop() {
      const codes: Record<string, number | null> = {};
      await Promise.all(
        Object.values(services).map(async (s) => {
          if (s.process.exitCode !== null) {
            codes[s.name] = s.process.exitCode;
            return;
          }
          const exited = once(s.process, 'exit') as Promise<[number | null]>;
          s.process.kill('SIGTERM');
          const timer = setTimeout(() => s.process.kill('SIGKILL'), 15_000);
          codes[s.name] = (await exited)[0];
          clearTimeout(timer);
        }),
      );
      return codes;
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let rebinds = 0;
  while (Date.now() < deadline) {
    const dead = Object.values(services).find((s) => s.process.exitCode !== null);
    // freePort's port can be taken (another process's ephemeral port) before the service binds it:
    // start that service again on the same ports, which the others already know.
    if (dead && rebinds < 3 && dead.logs().includes('EADDRINUSE')) {
      rebinds++;
      await sleep(500);
      const { rpc, http } = ports.get(dead.name)!;
      services[dead.name] = spawnService(dead.name, envFor(dead.name), rpc, http);
      continue;
    }
    if (dead) {
      await stack.stop();
      throw new Error(`${dead.name} exited with ${dead.process.exitCode} during start:\n${dead.logs()}`);
    }
    if (await everyoneReady(stack)) return stack;
    await sleep(250);
  }
  await stack.stop();
  throw new Error(`stack not ready in time:\n${Object.values(services).map((s) => `--- ${s.name}\n${s.logs().slice(-2_000)}`).join('\n')}`);
}

/**
 * The gateway's /readyz asks each backend's gRPC health at the URL it was given, which any
 * service of any stack answers; each backend's own ops /readyz and a live process show that
 * the service on that port is this stack's.
 */
async function everyoneReady(stack: Stack): Promise<boolean> {
  const backends = Object.values(stack.services).filter((s) => s.name !== 'gateway');
  return (await answersReady(stack.services.gateway)) && (await Promise.all(backends.map(answersReady))).every(Boolean);
}

/** The service's process runs and its own /readyz (OPS_PORT, or GATEWAY_PORT for the gateway) answers 200. */
async function answersReady(service: RunningService): Promise<boolean> {
  if (service.process.exitCode !== null) return false;
  return (await fetch(`http://127.0.0.1:${service.httpPort}/readyz`).catch(() => undefined))?.status === 200;
}
