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
  /** Tunnels and forwarded requests open at once; one more is refused (429). Raw connections to the socket are capped at this + 8. Default 32. */
  readonly maxConnections?: number;
  /** Bound on resolve + connect per destination. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Bound on one forwarded http request's response headers and on each gap in its body. Default 300 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Bound on a connection to the socket that has not sent a complete request head, and on a tunnel's first
   * bytes. Default 10 s. (An idle keep-alive connection is closed after 2 s, or this if shorter.)
   */
  readonly headersTimeoutMs?: number;
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
  /** How long a tunnel may wait for its first bytes (the TLS ClientHello). */
  readonly headersTimeoutMs: number;
  /** Undefined when a connection may start; else the refusal (status and words). */
  admit(): { status: number; message: string } | undefined;
  /** Counts a connection open until `release`; streams given to `track` are destroyed by a cut or close. */
  open(kind: 'tunnel' | 'request'): { track(stream: Duplex): void; release(): void };
  /** Counts relayed bytes; false once the budget is used up (everything is being cut). */
  count(n: number): boolean;
  /** Counts a request head, an authority or a response head before it passes; the refusal once the budget is used up. */
  charge(n: number): { status: number; message: string } | undefined;
  record(event: EgressEvent): void;
}

const MAX_EVENTS = 100;
/** Raw connections to the socket beyond maxConnections (a client's keep-alive spares, ones being refused); more are dropped at accept. */
export const RAW_CONNECTION_MARGIN = 8;
/** Charged per request and per tunnel on top of its head: the request count is bounded by the byte budget too. */
export const PER_EXCHANGE_BYTES = 128;
/** An idle keep-alive connection to the proxy is closed after this. */
const KEEP_ALIVE_MS = 2_000;

function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

/** Creates the proxy (not yet listening). Throws an Error naming a bad allow_hosts entry or limit. */
export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  if (!(Number.isSafeInteger(options.maxBytes) && options.maxBytes > 0)) throw new TypeError('maxBytes must be a positive integer');
  if (options.headersTimeoutMs !== undefined && !(Number.isSafeInteger(options.headersTimeoutMs) && options.headersTimeoutMs > 0)) {
    throw new TypeError('headersTimeoutMs must be a positive integer');
  }
  const maxConnections = options.maxConnections ?? 32;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 300_000;
  const tool = parseToolAllowHosts(options.toolAllowHosts);
  const policy = toolPolicy(tool, options.operatorAllow);
  const baseDial = options.connector ?? buildConnector({ allowH2: false, timeout: connectTimeoutMs });
  const connector = createGuardedConnector({ policy, resolver: options.resolver ?? systemResolver, dial: baseDial, resolveTimeoutMs: connectTimeoutMs });
  // One pool per execution: a connection opened under this tool's allow lists serves no other.
  const agent = new Agent({ connect: connector, allowH2: false, connections: 8, keepAliveTimeout: 4_000 });
  const events: EgressEvent[] = [];
  // A stream and how many open exchanges track it (pipelined requests share their socket).
  const live = new Map<Duplex, number>();
  const sockets = new Set<Socket>();
  let active = 0;
  let exhausted = false;
  let closed: Promise<void> | undefined;
  const totals = { tunnels: 0, requests: 0, refused: 0, failed: 0, bytes: 0 };

  const ctx: ProxyContext = {
    agent,
    policy,
    tool,
    requestTimeoutMs,
    headersTimeoutMs,
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
          if (mine.has(stream)) return;
          mine.add(stream);
          live.set(stream, (live.get(stream) ?? 0) + 1);
        },
        release() {
          if (done) return;
          done = true;
          active -= 1;
          for (const s of mine) {
            const left = (live.get(s) ?? 1) - 1;
            if (left > 0) live.set(s, left);
            else live.delete(s);
          }
        },
      };
    },
    count(n) {
      if (exhausted) return false;
      totals.bytes += n;
      if (totals.bytes <= options.maxBytes) return true;
      exhausted = true;
      ctx.record({ kind: 'cut', target: 'all connections', message: `egress cut at ${formatBytes(options.maxBytes)} for this execution` });
      for (const s of [...live.keys()]) s.destroy();
      return false;
    },
    charge(n) {
      return ctx.count(n + PER_EXCHANGE_BYTES) ? undefined : ctx.admit();
    },
    record(event) {
      if (event.kind === 'refused') totals.refused += 1;
      if (event.kind === 'failed') totals.failed += 1;
      if (events.length < MAX_EVENTS) events.push(event);
    },
  };

  // The socket is bound into the sandbox: the program can open raw connections to it past any relay. Beyond the
  // cap they are dropped at accept; one that sends no complete head in time, or idles after a response, is closed.
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: Math.max(headersTimeoutMs, requestTimeoutMs),
      keepAliveTimeout: Math.min(KEEP_ALIVE_MS, headersTimeoutMs),
      connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
    },
    (req: IncomingMessage, res: ServerResponse) => void forwardRequest(ctx, req, res),
  );
  server.maxConnections = maxConnections + RAW_CONNECTION_MARGIN;
  let dropped = false;
  server.on('drop', () => {
    if (dropped) return;
    dropped = true;
    ctx.record({ kind: 'refused', target: 'connection', message: `too many connections to the egress proxy at once (limit ${server.maxConnections}); more are dropped` });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void openTunnel(ctx, req, socket, head));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    ctx.record({ kind: 'refused', target: `${req.method ?? ''} upgrade`, message: 'protocol upgrades (websockets) are not forwarded; use wss:// through CONNECT' });
    socket.end('HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    // Destroyed once written: a client that never reads nor closes must not hold the socket half-closed.
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
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
        for (const s of [...live.keys(), ...sockets]) s.destroy();
        await Promise.all([stopped, agent.destroy()]);
      })();
      return closed;
    },
    events: () => [...events],
    stats: () => ({ open: active, ...totals }),
  };
}
