// The local HTTP server and the tool harness shared by http-tool-*.test.ts: names resolve through a
// table, and only loopback is ever dialled, whatever the guard decides.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildConnector } from 'undici';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import type { Resolver } from './guarded-connector.ts';
import { createHttpTool, type HttpToolOptions, type HttpToolRequest } from './http-tool.ts';
import { isLoopback } from './test-support.ts';

// Every name resolves through this table; only 127.0.0.1 is ever dialled (the
// harness refuses anything else, whatever the guard decides).
export const TABLE: Record<string, string[]> = {
  'a.test': ['127.0.0.1'],
  'b.test': ['127.0.0.1'],
  'localhost': ['127.0.0.1', '::1'],
  'private.test': ['10.0.0.5'],
  'meta.test': ['169.254.169.254'],
  'public.test': ['93.184.215.14'],
  'mapped.test': ['::ffff:10.0.0.1'],
};

export interface Seen {
  method: string;
  url: string;
  host: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** The local server's port, and a port nothing listens on (live bindings, set by useToolServer's beforeAll). */
export let port = 0;
export let closedPort = 0;
export const seen: Seen[] = [];
export const routes = new Map<string, Route>();
const sockets = new Set<Socket>();
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const path = (req.url ?? '/').split('?')[0] as string;
    seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', headers: req.headers, body });
    const route = routes.get(path);
    if (route) route(req, res, body);
    else res.writeHead(404).end('no route');
  });
});
server.on('connection', (s: Socket) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

/** Starts the local server for the calling test file (hooks), clearing what it saw and its routes before each test. */
export function useToolServer(): void {
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  // A port nothing listens on: take one, then close it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen.length = 0;
  routes.clear();
});
}

export function harness(options: Partial<HttpToolOptions> = {}) {
  const asked: string[] = [];
  const dialled: string[] = [];
  const violations: string[] = [];
  const resolver: Resolver = async (host) => {
    asked.push(host);
    const answers = TABLE[host.replace(/\.$/, '').toLowerCase()];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  const real = buildConnector({ timeout: 2_000 });
  const tool = createHttpTool({
    operatorAllow: parseAllowList(''),
    resolver,
    backoff: { baseMs: 20, maxMs: 100 },
    ...options,
    connector: (opts, callback) => {
      dialled.push(opts.hostname);
      if (!isLoopback(opts.hostname)) {
        violations.push(opts.hostname);
        callback(new Error(`test harness refused to dial ${opts.hostname}`), null);
        return;
      }
      real(opts, callback);
    },
  });
  return { tool, asked, dialled, violations };
}

export const base = (url: string, extra: Partial<HttpToolRequest> = {}): HttpToolRequest => ({
  method: 'GET',
  url,
  toolAllowHosts: ['a.test', 'b.test'],
  timeoutMs: 5_000,
  maxResponseBytes: 64 * 1024,
  ...extra,
});

/** Operator list that permits loopback, so a.test / b.test (127.0.0.1) pass when a tool lists them. */
export const LOOPBACK_OK = { operatorAllow: parseAllowList('127.0.0.0/8') };

export async function refused(promise: Promise<unknown>): Promise<EgressRefusedError> {
  const err = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EgressRefusedError);
  return err as EgressRefusedError;
}

export async function failed(promise: Promise<unknown>): Promise<HttpRequestError> {
  const err = await promise.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpRequestError);
  return err as HttpRequestError;
}

export const redirect = (status: number, to: () => string): Route => (_req, res) => {
  res.writeHead(status, { location: to() }).end('moving');
};

