// Local servers and a loopback-only dial for the network: true tests: nothing is ever opened outside
// 127.0.0.0/8 and ::1, whatever the guard decides.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dial, Resolver } from '@csda/net';

export interface Seen {
  readonly url: string;
  readonly host: string;
}

export interface LocalServer {
  readonly port: number;
  readonly seen: Seen[];
  /** TCP connections accepted, whether or not a request followed. */
  connections(): number;
  close(): Promise<void>;
}

async function serve(server: Server): Promise<LocalServer> {
  const seen: Seen[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    connections += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req: IncomingMessage, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'from the loopback server', path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export const httpServer = () => serve(createServer());

/** An https server with a throw-away certificate for `name` (and 127.0.0.1); `ca` is that certificate. */
export async function httpsServer(name: string): Promise<LocalServer & { ca: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'csda-egress-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`], { stdio: 'pipe' });
    const key = readFileSync(join(dir, 'k.pem'), 'utf8');
    const cert = readFileSync(join(dir, 'c.pem'), 'utf8');
    return { ...(await serve(createHttpsServer({ key, cert }))), ca: cert };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Names resolve through `table` only; every name asked is recorded. */
export function tableResolver(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolver = async (host: string) => {
    asked.push(host);
    const answers = table[host.toLowerCase()];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }));
  };
  return Object.assign(resolver, { asked });
}

const isLoopback = (a: string) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || a === '::1';

/** A plain-TCP dial (the proxy never needs TLS from it) that opens loopback only and records everything asked. */
export function loopbackDial(): { dial: Dial; dialled: string[]; violations: string[] } {
  const dialled: string[] = [];
  const violations: string[] = [];
  const dial: Dial = (options, callback) => {
    dialled.push(options.hostname);
    if (!isLoopback(options.hostname)) {
      violations.push(options.hostname);
      return callback(new Error(`test dial refused ${options.hostname}`), null);
    }
    const socket = connect({ host: options.hostname, port: Number(options.port) });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (err) => callback(err, null));
  };
  return { dial, dialled, violations };
}
