// The stack as data: which services run, on which ports, with which environment.
// Pure functions only (unit-tested in config.test.ts).
import path from 'node:path';

export interface ServiceDef {
  name: string;
  /** Prefix of the per-service port overrides, e.g. VAULT -> VAULT_RPC_PORT / VAULT_OPS_PORT. */
  envPrefix: string;
  rpcPort: number;
  /**
   * Ops port (/healthz /readyz /metrics). Null for the gateway: the stack polls its REST port, which
   * serves /healthz and /readyz (and /metrics in development; with NODE_ENV=production /metrics is only
   * on the gateway's own OPS_PORT, default 9090, which the stack does not assign).
   */
  opsPort: number | null;
  /** Name of the variable holding this service's RPC URL for its callers, e.g. VAULT_URL. */
  urlVar: string;
  /** Services it calls (each gets their URL variable), as the Helm chart's `calls`. */
  calls: readonly string[];
}

/** Start order matters only for display; the gateway goes last and waits for the others. */
export const SERVICES: readonly ServiceDef[] = [
  { name: 'vault', envPrefix: 'VAULT', rpcPort: 50051, opsPort: 9091, urlVar: 'VAULT_URL', calls: [] },
  { name: 'tool-runner', envPrefix: 'TOOL_RUNNER', rpcPort: 50052, opsPort: 9092, urlVar: 'TOOL_RUNNER_URL', calls: ['vault'] },
  { name: 'document-ingest', envPrefix: 'DOCUMENT_INGEST', rpcPort: 50053, opsPort: 9093, urlVar: 'DOCUMENT_INGEST_URL', calls: [] },
  { name: 'search', envPrefix: 'SEARCH', rpcPort: 50054, opsPort: 9094, urlVar: 'SEARCH_URL', calls: [] },
  { name: 'scheduler', envPrefix: 'SCHEDULER', rpcPort: 50055, opsPort: 9095, urlVar: 'SCHEDULER_URL', calls: ['vault', 'tool-runner', 'document-ingest', 'gateway'] },
  { name: 'gateway', envPrefix: 'GATEWAY', rpcPort: 50050, opsPort: null, urlVar: 'GATEWAY_URL', calls: ['vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'] },
];

export const DEFAULT_GATEWAY_PORT = 8080;

export const INFRA_DEFAULTS: Readonly<Record<string, string>> = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/csda',
  REDIS_URL: 'redis://127.0.0.1:6379',
  NATS_URL: 'nats://127.0.0.1:4222',
  NODE_ENV: 'development',
  HOST: '127.0.0.1',
};

export interface PortUse {
  port: number;
  /** The variable to change when the port is taken. */
  variable: string;
  service: string;
  role: 'rpc' | 'ops' | 'rest';
}

export interface StackService {
  name: string;
  /** Entry point, run as `node <entry> migrate|serve|bootstrap`. */
  entry: string;
  env: Record<string, string>;
  readyUrl: string;
  ports: PortUse[];
}

export interface Stack {
  services: StackService[];
  host: string;
  gatewayUrl: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** A TCP port from the environment, or the default; throws a message naming the variable. */
export function portFrom(env: Env, variable: string, fallback: number): number {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`${variable}=${JSON.stringify(raw)} is not a TCP port (1-65535)`);
  }
  return n;
}

/** The address to reach a server bound to `host` from this machine. */
export function connectHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}

/** host:port of a URL such as postgres://u:p@h:5432/db, for display (never shows credentials). */
export function describeUrl(url: string, defaultPort: number): string {
  try {
    const u = new URL(url.split(',')[0] ?? url);
    return `${u.hostname || '127.0.0.1'}:${u.port || defaultPort}`;
  } catch {
    return '(unparsable URL)';
  }
}

export function buildStack(env: Env, appsDir: string): Stack {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  // Per-service values below; a global RPC_PORT/OPS_PORT would make all six collide.
  delete base.RPC_PORT;
  delete base.OPS_PORT;
  for (const [k, v] of Object.entries(INFRA_DEFAULTS)) if (!base[k]) base[k] = v;
  const host = base.HOST ?? '127.0.0.1';
  const reach = connectHost(host);

  const gatewayPort = portFrom(env, 'GATEWAY_PORT', DEFAULT_GATEWAY_PORT);
  const services: StackService[] = [];
  const urls: Record<string, string> = {};
  for (const def of SERVICES) {
    const rpcVar = `${def.envPrefix}_RPC_PORT`;
    const rpc = portFrom(env, rpcVar, def.rpcPort);
    const ports: PortUse[] = [{ port: rpc, variable: rpcVar, service: def.name, role: 'rpc' }];
    const own: Record<string, string> = { RPC_PORT: String(rpc) };
    let readyUrl: string;
    if (def.opsPort !== null) {
      const opsVar = `${def.envPrefix}_OPS_PORT`;
      const ops = portFrom(env, opsVar, def.opsPort);
      ports.push({ port: ops, variable: opsVar, service: def.name, role: 'ops' });
      own.OPS_PORT = String(ops);
      readyUrl = `http://${reach}:${ops}/readyz`;
    } else {
      ports.push({ port: gatewayPort, variable: 'GATEWAY_PORT', service: def.name, role: 'rest' });
      own.GATEWAY_PORT = String(gatewayPort);
      readyUrl = `http://${reach}:${gatewayPort}/readyz`;
    }
    urls[def.name] = env[def.urlVar] || `http://${reach}:${rpc}`;
    services.push({
      name: def.name,
      entry: path.join(appsDir, def.name, 'src', 'main.ts'),
      env: own,
      readyUrl,
      ports,
    });
  }
  for (const s of services) {
    const def = SERVICES.find((d) => d.name === s.name)!;
    const called = Object.fromEntries(def.calls.map((name) => [SERVICES.find((d) => d.name === name)!.urlVar, urls[name]!]));
    s.env = { ...base, ...called, ...s.env };
  }
  return { services, host, gatewayUrl: `http://${reach}:${gatewayPort}` };
}

/** Ports claimed twice within the stack itself (e.g. VAULT_OPS_PORT=8080). */
export function duplicatePorts(services: readonly StackService[]): PortUse[][] {
  const byPort = new Map<number, PortUse[]>();
  for (const s of services) for (const p of s.ports) byPort.set(p.port, [...(byPort.get(p.port) ?? []), p]);
  return [...byPort.values()].filter((uses) => uses.length > 1);
}
