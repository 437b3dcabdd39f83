import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { connectVia, rawOverTunnel, startProxy, viaProxy } from './egress-proxy-harness.ts';
import { startHttpServer, type TestServer } from './test-support.ts';

// The proxy's own rules: byte and connection caps, TLS-only tunnels, what it answers to malformed requests.
let http: TestServer;
beforeAll(async () => {
  http = await startHttpServer();
});
afterAll(async () => {
  await http.close();
});

async function until(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

const ALLOW = { operatorAllow: parseAllowList('127.0.0.0/8'), toolAllowHosts: ['a.test', '127.0.0.1'] };

describe('egress proxy: limits and rules', () => {
  it('cuts everything at the execution byte budget, then refuses new connections saying why', async () => {
    const h = await startProxy({ ...ALLOW, maxBytes: 64 * 1024 });
    try {
      // cut mid-body (aborted) or before the head went out (hang-up): either way far short of 1 MiB
      const big = await viaProxy(h.path, `http://a.test:${http.port}/big`).catch(() => undefined);
      expect(big?.body.length ?? 0).toBeLessThan(1024 * 1024);
      expect(h.proxy.events()).toContainEqual({ kind: 'cut', target: 'all connections', message: 'egress cut at 64 KiB for this execution' });
      const after = await viaProxy(h.path, `http://a.test:${http.port}/ok`);
      expect(after.status).toBe(403);
      expect(after.statusMessage).toBe('the egress limit of 64 KiB for this execution is used up');
      expect(h.proxy.stats().bytes).toBeGreaterThan(64 * 1024);
    } finally {
      await h.close();
    }
  });

  it('refuses a connection past maxConnections with 429 naming the limit', async () => {
    const h = await startProxy({ ...ALLOW, maxConnections: 1 });
    try {
      const first = await connectVia(h.path, `a.test:${http.port}`);
      expect(first.status).toBe(200);
      const second = await connectVia(h.path, `a.test:${http.port}`);
      expect(second.status).toBe(429);
      expect(second.statusMessage).toBe('too many connections through the egress proxy at once (limit 1)');
      first.socket.destroy();
      await until(() => h.proxy.stats().open === 0, 5_000);
      const third = await connectVia(h.path, `a.test:${http.port}`);
      expect(third.status).toBe(200);
      third.socket.destroy();
    } finally {
      await h.close();
    }
  });

  it('a tunnel that does not start with TLS is closed before any byte reaches the destination', async () => {
    const h = await startProxy(ALLOW);
    try {
      const seen = http.requests.length;
      const tunnel = await connectVia(h.path, `127.0.0.1:${http.port}`);
      expect(tunnel.status).toBe(200);
      const back = await rawOverTunnel(tunnel.socket, `GET /ok HTTP/1.1\r\nhost: x\r\n\r\n`);
      expect(back).toBe('');
      await new Promise((r) => setTimeout(r, 50));
      expect(http.requests.length).toBe(seen);
      expect(h.proxy.events()).toEqual([{ kind: 'cut', target: `CONNECT 127.0.0.1:${http.port}`, message: `the tunnel to 127.0.0.1:${http.port} did not start with a TLS handshake: CONNECT carries HTTPS only` }]);
    } finally {
      await h.close();
    }
  });

  it('answers malformed and non-proxy requests with 400/405 and a reason, dialling nothing', async () => {
    const h = await startProxy(ALLOW);
    try {
      expect((await viaProxy(h.path, '/ok')).statusMessage).toBe('this is an HTTP proxy: send absolute http:// URLs, or CONNECT host:port for https');
      expect((await viaProxy(h.path, `https://a.test:${http.port}/ok`)).statusMessage).toBe('https goes through CONNECT, not as an absolute URL');
      expect((await viaProxy(h.path, `http://a.test:${http.port}/ok`, { method: 'TRACE' })).status).toBe(405);
      expect((await viaProxy(h.path, `http://user:pw@a.test:${http.port}/ok`)).statusMessage).toBe('URLs carrying credentials (user:password@host) are refused');
      expect((await viaProxy(h.path, `gopher://a.test/`)).status).toBe(400);
      for (const authority of ['a.test', 'a.test:0', 'a.test:70000', 'user@a.test:443', '[::1:443', 'a.test:443/path', 'a.test:443:1']) {
        const r = await connectVia(h.path, authority);
        expect(r.status, authority).toBe(400);
      }
      expect(h.dialled).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('reports a destination that does not answer as failed (502), not refused', async () => {
    const h = await startProxy(ALLOW);
    try {
      const closed = await startHttpServer();
      const port = closed.port;
      await closed.close();
      const r = await connectVia(h.path, `127.0.0.1:${port}`);
      expect(r.status).toBe(502);
      expect(r.statusMessage).toBe(`connection to 127.0.0.1:${port} failed (ECONNREFUSED)`);
      // allow_hosts holds an address, so a name is looked up (and judged by its addresses)
      const name = await viaProxy(h.path, 'http://nowhere.test/');
      expect(name.status).toBe(502);
      expect(name.statusMessage).toBe('could not resolve nowhere.test');
      expect(h.proxy.stats()).toMatchObject({ failed: 2, refused: 0 });
    } finally {
      await h.close();
    }
  });

  it('close() cuts an open tunnel and stops listening', async () => {
    const h = await startProxy(ALLOW);
    const tunnel = await connectVia(h.path, `127.0.0.1:${http.port}`);
    const ended = new Promise((resolve) => tunnel.socket.on('close', resolve));
    await h.proxy.close();
    await ended;
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => request({ socketPath: h.path, path: 'http://a.test/' }).on('error', resolve).end());
    expect(['ECONNREFUSED', 'ENOENT']).toContain(err.code);
    await h.close();
  });
});
