// Test helpers for the guarded client: a self-signed certificate and local
// servers on loopback only. Not exported from the package.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dial } from './guarded-connector.ts';

export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
}

/** A throw-away self-signed certificate (openssl) for hooks.test, rebind.test, 127.0.0.1 and 127.0.0.2. */
export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'csda-net-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=csda-net-test',
      '-addext', 'subjectAltName=DNS:hooks.test,DNS:rebind.test,IP:127.0.0.1,IP:127.0.0.2',
    ], { stdio: 'pipe' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface TestServer {
  readonly host: string;
  readonly port: number;
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  readonly requests: SeenRequest[];
  /** Bytes the /stream route managed to write before the client went away. */
  readonly streamed: () => number;
  close(): Promise<void>;
}

const STREAM_TOTAL = 50 * 1024 * 1024;

function handler(requests: SeenRequest[], state: { streamed: number; origin: () => string }) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const path = (req.url ?? '/').split('?')[0];
      switch (path) {
        case '/ok':
          res.setHeader('x-multi', ['a', 'b']);
          res.end('hello');
          return;
        case '/echo':
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
          return;
        case '/redirect':
          res.writeHead(302, { location: `${state.origin()}/redirect-target` });
          res.end('moved');
          return;
        case '/redirect-target':
          res.end('should never be fetched');
          return;
        case '/close':
          res.setHeader('connection', 'close');
          res.end('bye');
          return;
        case '/slow':
          return; // never answers
        case '/drip': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const timer = setInterval(() => res.write('.'), 50);
          res.on('close', () => clearInterval(timer));
          return;
        }
        case '/big':
          res.writeHead(200, { 'content-length': String(1024 * 1024) });
          res.end(Buffer.alloc(1024 * 1024, 1));
          return;
        case '/stream': {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 2);
          const pump = () => {
            while (state.streamed < STREAM_TOTAL && !res.destroyed) {
              state.streamed += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', pump);
            }
            if (!res.destroyed) res.end();
          };
          pump();
          return;
        }
        case '/garbage':
          req.socket.end('HTTP/1.1 2OO NOT OK\r\n\r\n');
          return;
        default:
          res.writeHead(404).end();
      }
    });
  };
}

async function listen(server: Server, host: string, requests: SeenRequest[], state: { streamed: number }): Promise<TestServer> {
  let connections = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    connections: () => connections,
    requests,
    streamed: () => state.streamed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function startHttpsServer(cert: TestCertificate, host = '127.0.0.1'): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  let port = 0;
  const state = { streamed: 0, origin: () => `https://${host}:${port}` };
  const server = createHttpsServer({ key: cert.key, cert: cert.cert }, handler(requests, state));
  const started = await listen(server, host, requests, state);
  port = started.port;
  return started;
}

export async function startHttpServer(host = '127.0.0.1'): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  let port = 0;
  const state = { streamed: 0, origin: () => `http://${host}:${port}` };
  const server = createHttpServer(handler(requests, state));
  const started = await listen(server, host, requests, state);
  port = started.port;
  return started;
}

export function isLoopback(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === '::1';
}

/**
 * Wraps the client's real dial: records every address it is asked to open
 * and refuses (records as a violation, never connects) anything outside
 * loopback, so even a broken guard sends nothing off this machine.
 */
export function loopbackOnlyDial() {
  const dialled: string[] = [];
  const violations: string[] = [];
  const wrap = (dial: Dial): Dial => (options, callback) => {
    dialled.push(options.hostname);
    if (!isLoopback(options.hostname)) {
      violations.push(options.hostname);
      callback(new Error(`test harness refused to dial ${options.hostname}`), null);
      return;
    }
    dial(options, callback);
  };
  return { wrap, dialled, violations };
}
