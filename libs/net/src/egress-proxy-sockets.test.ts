import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { RAW_CONNECTION_MARGIN } from './egress-proxy.ts';
import { connectVia, rawOverTunnel, startProxy, viaProxy } from './egress-proxy-harness.ts';
import { clientHello } from './egress-tunnel.ts';
import { startHttpServer, type TestServer } from './test-support.ts';

// The proxy's unix socket is bound into the sandbox, so the program can open raw connections to it directly:
// they are capped at accept, and ones that say nothing (or a tunnel that never starts TLS) are closed in time.
let http: TestServer;
beforeAll(async () => {
  http = await startHttpServer();
});
afterAll(async () => {
  await http.close();
});

const ALLOW = { operatorAllow: parseAllowList('127.0.0.0/8'), toolAllowHosts: ['a.test', '127.0.0.1'] };

async function until(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

interface Raw {
  readonly socket: Socket;
  connected: boolean;
  closed: boolean;
}

function openRaw(path: string): Raw {
  const socket = connect(path);
  const raw: Raw = { socket, connected: false, closed: false };
  socket.on('connect', () => (raw.connected = true));
  socket.on('error', () => {});
  socket.resume(); // reads (and so sees the close) but never writes
  socket.on('close', () => (raw.closed = true));
  return raw;
}

describe('egress proxy: raw connections to its socket', () => {
  it('keeps at most maxConnections + a margin of 500 idle connections, closes those in time, then serves a request', async () => {
    const h = await startProxy({ ...ALLOW, maxConnections: 2, headersTimeoutMs: 1_000 });
    const raws: Raw[] = [];
    try {
      for (let i = 0; i < 500; i++) raws.push(openRaw(h.path));
      await until(() => raws.every((r) => r.connected || r.closed), 5_000);
      await new Promise((r) => setTimeout(r, 200));
      const held = raws.filter((r) => r.connected && !r.closed).length;
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(2 + RAW_CONNECTION_MARGIN);
      expect(h.proxy.events()).toContainEqual({ kind: 'refused', target: 'connection', message: `too many connections to the egress proxy at once (limit ${2 + RAW_CONNECTION_MARGIN}); more are dropped` });
      await until(() => raws.every((r) => r.closed), 5_000);
      expect(raws.filter((r) => !r.closed).length).toBe(0);
      const ok = await viaProxy(h.path, `http://a.test:${http.port}/ok`);
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('hello');
    } finally {
      for (const r of raws) r.socket.destroy();
      await h.close();
    }
  });

  it('answers a connection that never completes its head with 408 and closes it', async () => {
    const h = await startProxy({ ...ALLOW, headersTimeoutMs: 300 });
    try {
      const raw = openRaw(h.path);
      let text = '';
      raw.socket.on('data', (c: Buffer) => (text += c.toString()));
      raw.socket.write(`GET http://a.test:${http.port}/ok HTTP/1.1\r\nhost: a.test\r\n`);
      await until(() => raw.closed, 3_000);
      expect(raw.closed).toBe(true);
      expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(http.requests.some((r) => r.url === '/ok' && r.headers.host === undefined)).toBe(false);
    } finally {
      await h.close();
    }
  });

  it('cuts a tunnel that sends no first bytes in time, freeing its connection slot', async () => {
    const h = await startProxy({ ...ALLOW, maxConnections: 1, headersTimeoutMs: 300 });
    try {
      const tunnel = await connectVia(h.path, `127.0.0.1:${http.port}`);
      expect(tunnel.status).toBe(200);
      await until(() => tunnel.socket.destroyed || tunnel.socket.readableEnded, 3_000);
      await until(() => h.proxy.stats().open === 0, 3_000);
      expect(h.proxy.events()).toEqual([{ kind: 'cut', target: `CONNECT 127.0.0.1:${http.port}`, message: `the tunnel to 127.0.0.1:${http.port} sent no TLS handshake within 300 ms: CONNECT carries HTTPS only` }]);
      expect((await connectVia(h.path, `127.0.0.1:${http.port}`)).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('a tunnel must start with a TLS record carrying a ClientHello, not just the byte 0x16', async () => {
    const h = await startProxy(ALLOW);
    try {
      const seen = http.connections();
      const tunnel = await connectVia(h.path, `127.0.0.1:${http.port}`);
      // content type 22 and version 3.1, but a 60 000-byte record and then cleartext
      const back = await rawOverTunnel(tunnel.socket, `\x16\x03\x01\xea\x60GET /ok HTTP/1.1\r\nhost: x\r\n\r\n`);
      expect(back).toBe('');
      expect(http.connections()).toBe(seen + 1); // dialled, but nothing was written to it
      expect(h.proxy.events().at(-1)?.message).toBe(`the tunnel to 127.0.0.1:${http.port} did not start with a TLS handshake: CONNECT carries HTTPS only`);
    } finally {
      await h.close();
    }
  });
});

describe('clientHello', () => {
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);
  it('accepts a handshake record header followed by client_hello, waiting while bytes are missing', () => {
    expect(clientHello(hello)).toBe('yes');
    for (let n = 0; n < 6; n++) expect(clientHello(hello.subarray(0, n)), `${n} bytes`).toBe('more');
  });
  it('refuses other content types, versions, lengths and handshake types as soon as a byte disagrees', () => {
    const bad = (i: number, v: number) => Buffer.from(hello.map((b, j) => (j === i ? v : b)));
    expect(clientHello(bad(0, 0x17))).toBe('no');
    expect(clientHello(bad(1, 0x02))).toBe('no');
    expect(clientHello(bad(2, 0x05))).toBe('no');
    expect(clientHello(bad(3, 0x41))).toBe('no'); // 0x4100 > 2^14
    expect(clientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x03]))).toBe('no');
    expect(clientHello(bad(5, 0x02))).toBe('no'); // server_hello
    expect(clientHello(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'))).toBe('no');
    expect(clientHello(Buffer.from([0x16, 0x04]))).toBe('no');
  });
});
