import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, buildConnector } from 'undici';
import type { AllowList } from './allow-list.ts';
import { forwardRequest } from './egress-forward.ts';
import { openTunnel } from './egress-tunnel.ts';
import { createGuardedConnector, systemResolver, type Dial, type EgressPolicy, type Resolver } from './guarded-connector.ts';
import { parseToolAllowHosts, toolPolicy, type ToolAllowHosts } from './tool-policy.ts';

export interface EgressProxyOptions {
  /** The operator's list (TOOLS_HTTP_ALLOW): non-public destinations it permits, if the tool's allow_hosts also lists them. */
  readonly operatorAllow: AllowList;
  /** The tool's allow_hosts, as for api_call: empty = any public host; otherwise only these. */
  readonly toolAllowHosts: readonly string[];
  /** Name resolution; default the system's. Each destination is resolved once and the checked address is dialled. */
  readonly resolver?: Resolver;
  /** Opens the socket to a checked address (undici connector contract; always plain TCP here). Tests inject a loopback-only one. */
  readonly connector?: Dial;
  /** Bytes through the proxy, both directions and every connection together; past it all are cut and later ones refused. */
  readonly maxBytes: number;
  /** Tunnels and forwarded requests open at once; one more is refused (429). Default 32. */
  readonly maxConnections?: number;
  /** Bound on resolve + connect per destination. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Bound on one forwarded http request's response headers and on each gap in its body. Default 300 s. */
  readonly requestTimeoutMs?: number;
}

/** Something the proxy refused or cut, in plain words. */
export interface EgressEvent {
  /** refused: the guard or a limit said no; failed: the destination could not be reached; cut: a limit or a rule ended an open exchange. */
  readonly kind: 'refused' | 'failed' | 'cut';
  /** `CONNECT host:port` or `GET http://host:port` — never a path or query, which may carry tokens. */
  readonly target: string;
  readonly message: string;
}

export interface EgressStats {
  /** Tunnels and forwarded requests open now. */
  readonly open: number;
  readonly tunnels: number;
  readonly requests: number;
  readonly refused: number;
  readonly failed: number;
  /** Bytes relayed, both directions. */
  readonly bytes: number;
}

/**
 * A forward HTTP proxy for one sandboxed execution, listening on a unix socket: `CONNECT host:port` opens a
 * TLS tunnel, an absolute-form `GET http://…` is forwarded. Every destination goes through the api_call guard
 * (tool allow_hosts AND operator list, every resolved address checked, the checked address dialled).
 */
export interface EgressProxy {
  listen(path: string): Promise<void>;
  /** Stops accepting, cuts every open connection and closes the pool. Idempotent. */
  close(): Promise<void>;
  /** Refusals, failures and cuts in order (the first 100). */
  events(): readonly EgressEvent[];
  stats(): EgressStats;
}

/** What the tunnel and forwarding halves share: the guard, the limits and the record. */
export interface ProxyContext {
  readonly dial: (hostname: string, port: number) => Promise<Socket>;
  readonly agent: Agent;
  readonly policy: EgressPolicy;
  readonly tool: ToolAllowHosts;
  readonly requestTimeoutMs: number;
  /** Undefined when a connection may start; else the refusal (status and words). */
  admit(): { status: number; message: string } | undefined;
  /** Counts a connection open until `release`; streams given to `track` are destroyed by a cut or close. */
  open(kind: 'tunnel' | 'request'): { track(stream: Duplex): void; release(): void };
  /** Counts relayed bytes; false once the budget is used up (everything is being cut). */
  count(n: number): boolean;
  record(event: EgressEvent): void;
}

const MAX_EVENTS = 100;

function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

/** Creates the proxy (not yet listening). Throws an Error naming a bad allow_hosts entry or limit. */
export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  if (!(Number.isSafeInteger(options.maxBytes) && options.maxBytes > 0)) throw new TypeError('maxBytes must be a positive integer');
  const maxConnections = options.maxConnections ?? 32;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const tool = parseToolAllowHosts(options.toolAllowHosts);
  const policy = toolPolicy(tool, options.operatorAllow);
  const baseDial = options.connector ?? buildConnector({ allowH2: false, timeout: connectTimeoutMs });
  const connector = createGuardedConnector({ policy, resolver: options.resolver ?? systemResolver, dial: baseDial, resolveTimeoutMs: connectTimeoutMs });
  // One pool per execution: a connection opened under this tool's allow lists serves no other.
  const agent = new Agent({ connect: connector, allowH2: false, connections: 8, keepAliveTimeout: 4_000 });
  const events: EgressEvent[] = [];
  const live = new Set<Duplex>();
  const sockets = new Set<Socket>();
  let active = 0;
  let exhausted = false;
  let closed: Promise<void> | undefined;
  const totals = { tunnels: 0, requests: 0, refused: 0, failed: 0, bytes: 0 };

  const ctx: ProxyContext = {
    agent,
    policy,
    tool,
    requestTimeoutMs: options.requestTimeoutMs ?? 300_000,
    dial: (hostname, port) =>
      new Promise((resolve, reject) => {
        connector({ hostname, host: `${hostname}:${port}`, protocol: 'http:', port: String(port) }, (err, socket) => (err ? reject(err) : resolve(socket as Socket)));
      }),
    admit() {
      if (closed) return { status: 503, message: 'the execution is over: the egress proxy is closed' };
      if (exhausted) return { status: 403, message: `the egress limit of ${formatBytes(options.maxBytes)} for this execution is used up` };
      if (active >= maxConnections) return { status: 429, message: `too many connections through the egress proxy at once (limit ${maxConnections})` };
      return undefined;
    },
    open(kind) {
      active += 1;
      totals[kind === 'tunnel' ? 'tunnels' : 'requests'] += 1;
      const mine = new Set<Duplex>();
      let done = false;
      return {
        track(stream) {
          if (done || closed || exhausted) return void stream.destroy();
          mine.add(stream);
          live.add(stream);
        },
        release() {
          if (done) return;
          done = true;
          active -= 1;
          for (const s of mine) live.delete(s);
        },
      };
    },
    count(n) {
      if (exhausted) return false;
      totals.bytes += n;
      if (totals.bytes <= options.maxBytes) return true;
      exhausted = true;
      ctx.record({ kind: 'cut', target: 'all connections', message: `egress cut at ${formatBytes(options.maxBytes)} for this execution` });
      for (const s of [...live]) s.destroy();
      return false;
    },
    record(event) {
      if (event.kind === 'refused') totals.refused += 1;
      if (event.kind === 'failed') totals.failed += 1;
      if (events.length < MAX_EVENTS) events.push(event);
    },
  };

  const server = createServer({ requestTimeout: 0 }, (req: IncomingMessage, res: ServerResponse) => void forwardRequest(ctx, req, res));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void openTunnel(ctx, req, socket, head));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    ctx.record({ kind: 'refused', target: `${req.method ?? ''} upgrade`, message: 'protocol upgrades (websockets) are not forwarded; use wss:// through CONNECT' });
    socket.end('HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    listen: (path) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close() {
      closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
        for (const s of [...live, ...sockets]) s.destroy();
        await Promise.all([stopped, agent.destroy()]);
      })();
      return closed;
    },
    events: () => [...events],
    stats: () => ({ open: active, ...totals }),
  };
}
