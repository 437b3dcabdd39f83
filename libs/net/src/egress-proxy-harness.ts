// Shared by egress-proxy*.test.ts: a proxy on a unix socket whose names resolve through a table and which
// dials loopback only (anything else is recorded as a violation and never opened), and clients speaking to it.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { buildConnector } from 'undici';
import { parseAllowList } from './allow-list.ts';
import { createEgressProxy, type EgressProxy, type EgressProxyOptions } from './egress-proxy.ts';
import type { Resolver } from './guarded-connector.ts';
import { loopbackOnlyDial } from './test-support.ts';

export const TABLE: Record<string, string[]> = {
  'a.test': ['127.0.0.1'],
  'private.test': ['10.0.0.5'],
  'meta.test': ['169.254.169.254'],
  'mixed.test': ['127.0.0.1', '10.0.0.5'],
};

export interface ProxyHarness {
  readonly proxy: EgressProxy;
  readonly path: string;
  readonly asked: string[];
  readonly dialled: string[];
  readonly violations: string[];
  close(): Promise<void>;
}

export async function startProxy(options: Partial<EgressProxyOptions> = {}): Promise<ProxyHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'csda-egress-test-'));
  const path = join(dir, 'proxy.sock');
  const asked: string[] = [];
  const resolver: Resolver = async (host) => {
    asked.push(host);
    const answers = TABLE[host.toLowerCase()];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  const guard = loopbackOnlyDial();
  const proxy = createEgressProxy({
    operatorAllow: parseAllowList(''),
    toolAllowHosts: [],
    resolver,
    connector: guard.wrap(buildConnector({ timeout: 2_000 })),
    maxBytes: 1 << 20,
    ...options,
  });
  await proxy.listen(path);
  return {
    proxy,
    path,
    asked,
    dialled: guard.dialled,
    violations: guard.violations,
    async close() {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyAnswer {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An absolute-form (or any) request line sent to the proxy as is. */
export function viaProxy(path: string, target: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<ProxyAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method: init.method ?? 'GET', path: target, headers: init.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, statusMessage: 'aborted', headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** CONNECT authority: the proxy's answer and, on 200, the tunnel socket. */
export function connectVia(path: string, authority: string): Promise<{ status: number; statusMessage: string; body: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method: 'CONNECT', path: authority });
    req.on('connect', (res, socket: Socket, head: Buffer) => {
      if (res.statusCode === 200) return resolve({ status: 200, statusMessage: res.statusMessage ?? '', body: '', socket });
      const chunks: Buffer[] = [head];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', body: Buffer.concat(chunks).toString(), socket }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', body: Buffer.concat(chunks).toString(), socket: res.socket as Socket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET `path` over TLS inside an open tunnel, trusting `ca`; resolves with the raw response text. */
export function httpsOverTunnel(socket: Socket, servername: string, ca: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ca }, () => tls.end(`GET ${path} HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    tls.on('data', (c: Buffer) => chunks.push(c));
    tls.on('error', reject);
    tls.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** Writes `bytes` into an open tunnel and resolves with what comes back before it closes. */
export function rawOverTunnel(socket: Socket, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.write(bytes);
  });
}
