import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { connectVia, startProxy, viaProxy } from './egress-proxy-harness.ts';
import { startHttpServer, type TestServer } from './test-support.ts';

// What the byte budget counts: request lines and headers, CONNECT authorities and response heads as well as
// bodies, so a program cannot carry data out in URLs, headers or names without bound.
let http: TestServer;
beforeAll(async () => {
  http = await startHttpServer();
});
afterAll(async () => {
  await http.close();
});

const ALLOW = { operatorAllow: parseAllowList('127.0.0.0/8'), toolAllowHosts: ['a.test', '127.0.0.1'] };
const USED_UP = (n: number) => `the egress limit of ${n} bytes for this execution is used up`;

describe('egress proxy: the budget counts heads, not only bodies', () => {
  it('refuses a request whose URL and headers alone exceed the budget; the destination sees nothing', async () => {
    const h = await startProxy({ ...ALLOW, maxBytes: 1000 });
    try {
      const seen = http.requests.length;
      const secret = 'x'.repeat(6_000);
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await viaProxy(h.path, `http://a.test:${http.port}/ok?d=${secret}`, { headers: { 'x-data': secret } }));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(403));
      expect(answers[0]?.statusMessage).toBe(USED_UP(1000));
      expect(http.requests.length).toBe(seen);
      expect(h.dialled).toEqual([]);
      expect(h.proxy.stats().bytes).toBeGreaterThan(12_000);
    } finally {
      await h.close();
    }
  });

  it('bounds the number of small requests: each is charged its head and a per-request overhead', async () => {
    const h = await startProxy({ ...ALLOW, maxBytes: 4096 });
    try {
      const seen = http.requests.length;
      const statuses: number[] = [];
      for (let i = 0; i < 50; i++) statuses.push((await viaProxy(h.path, `http://a.test:${http.port}/ok?n=${i}`).catch(() => ({ status: 0 }))).status);
      const served = statuses.filter((s) => s === 200).length;
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThan(4096 / 256);
      expect(statuses.at(-1)).toBe(403);
      expect(http.requests.length - seen).toBeLessThanOrEqual(served + 1);
    } finally {
      await h.close();
    }
  });

  it('charges CONNECT authorities: names carried to the resolver stop at the budget', async () => {
    const h = await startProxy({ maxBytes: 2000 });
    try {
      const label = (i: number) => `${String(i).padStart(2, '0')}${'s'.repeat(58)}`;
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await connectVia(h.path, `${label(i)}.${label(i)}.${label(i)}.exfil.test:443`)).status);
      expect(statuses.filter((s) => s === 502).length).toBeLessThan(6);
      expect(statuses.at(-1)).toBe(403);
      expect(h.asked.length).toBeLessThan(6);
    } finally {
      await h.close();
    }
  });

  it('charges the response head before it is written: big upstream headers do not pass a small budget', async () => {
    const upstream: Server = createServer((_req, res) => res.writeHead(200, { 'x-big': 'y'.repeat(4_000) }).end());
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const h = await startProxy({ ...ALLOW, maxBytes: 2000 });
    try {
      const r = await viaProxy(h.path, `http://a.test:${(upstream.address() as AddressInfo).port}/`).catch(() => undefined);
      expect(r?.headers['x-big']).toBeUndefined();
      expect(h.proxy.events()).toContainEqual({ kind: 'cut', target: 'all connections', message: 'egress cut at 2000 bytes for this execution' });
    } finally {
      await h.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('a budget cut ends a pipelined request whose socket an earlier, finished request shared', async () => {
    const h = await startProxy({ ...ALLOW, maxBytes: 64 * 1024 });
    try {
      const raw = connect(h.path);
      raw.on('error', () => {});
      let text = '';
      raw.on('data', (c: Buffer) => (text += c.toString()));
      const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
      const line = (path: string) => `GET http://a.test:${http.port}${path} HTTP/1.1\r\nhost: a.test\r\n\r\n`;
      raw.write(line('/ok') + line('/slow'));
      const end = Date.now() + 5_000;
      while (!(text.includes('hello') && h.proxy.stats().open === 1) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(text).toContain('hello');
      expect(h.proxy.stats().open).toBe(1); // /slow is waiting for an answer that never comes
      await viaProxy(h.path, `http://a.test:${http.port}/big`).catch(() => undefined);
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 2_000))]);
      expect(outcome).toBe('closed');
    } finally {
      await h.close();
    }
  });
});
