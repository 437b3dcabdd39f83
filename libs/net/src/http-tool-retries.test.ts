import { describe, expect, it } from 'vitest';
import { LOOPBACK_OK, base, closedPort, failed, harness, port, refused, routes, seen, useToolServer, type Route } from './http-tool-harness.ts';
import { retryAfterMs } from './http-tool.ts';
import { TemplateError } from './url-template.ts';

useToolServer();

describe('retries: idempotent methods only, on 429 / 5xx / connection errors', () => {
  const sequence = (...answers: [number, Record<string, string>?][]): Route => {
    let i = 0;
    return (_req, res) => {
      const [status, headers] = answers[Math.min(i, answers.length - 1)] as [number, Record<string, string>?];
      i += 1;
      res.writeHead(status, headers ?? {}).end(`answer ${i}`);
    };
  };

  it('GET: 503, 503, 200 → 200 after three attempts', async () => {
    routes.set('/flaky', sequence([503], [503], [200]));
    const { tool } = harness(LOOPBACK_OK);
    const res = await tool.call(base(`http://a.test:${port}/flaky`));
    expect(res.status).toBe(200);
    expect(res.attempts).toBe(3);
    expect(res.body.toString()).toBe('answer 3');
    expect(seen).toHaveLength(3);
  });

  it('gives up after `retries` and returns the last answer', async () => {
    routes.set('/down', sequence([502]));
    const { tool } = harness(LOOPBACK_OK);
    const res = await tool.call(base(`http://a.test:${port}/down`, { retries: 1 }));
    expect(res.status).toBe(502);
    expect(res.attempts).toBe(2);
    expect(seen).toHaveLength(2);
  });

  it('429 with Retry-After: waits as told, then retries', async () => {
    routes.set('/limited', sequence([429, { 'retry-after': '1' }], [200]));
    const { tool } = harness(LOOPBACK_OK);
    const started = Date.now();
    const res = await tool.call(base(`http://a.test:${port}/limited`));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(res.attempts).toBe(2);
  });

  it('429 with a Retry-After beyond the cap or the deadline: returned at once, not waited for', async () => {
    routes.set('/later', sequence([429, { 'retry-after': '120' }], [200]));
    const { tool } = harness({ ...LOOPBACK_OK, maxRetryAfterMs: 5_000 });
    const started = Date.now();
    const res = await tool.call(base(`http://a.test:${port}/later`));
    expect(res.status).toBe(429);
    expect(res.attempts).toBe(1);
    routes.set('/soon', sequence([429, { 'retry-after': '3' }], [200]));
    const short = await tool.call(base(`http://a.test:${port}/soon`, { timeoutMs: 1_000 }));
    expect(short.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('POST is never retried; 501 is not retried; 4xx is not retried', async () => {
    routes.set('/post', sequence([503], [200]));
    routes.set('/ni', sequence([501], [200]));
    routes.set('/nf', sequence([404], [200]));
    const { tool } = harness(LOOPBACK_OK);
    const post = await tool.call(base(`http://a.test:${port}/post`, { method: 'POST', body: 'x' }));
    expect(post.status).toBe(503);
    expect(post.attempts).toBe(1);
    expect((await tool.call(base(`http://a.test:${port}/ni`))).status).toBe(501);
    expect((await tool.call(base(`http://a.test:${port}/nf`))).status).toBe(404);
    expect(seen).toHaveLength(3);
  });

  it('retries a refused connection for GET (each attempt dials again), not for POST', async () => {
    const { tool, dialled } = harness(LOOPBACK_OK);
    const err = await failed(tool.call(base(`http://a.test:${closedPort}/`)));
    expect(err.kind).toBe('connection');
    expect(dialled).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    dialled.length = 0;
    await failed(tool.call(base(`http://a.test:${closedPort}/`, { method: 'POST' })));
    expect(dialled).toEqual(['127.0.0.1']);
  });

  it('never retries an egress refusal', async () => {
    const { tool, asked, dialled } = harness();
    await refused(tool.call(base('http://private.test/', { toolAllowHosts: ['private.test'], retries: 5 })));
    expect(asked).toEqual(['private.test']);
    expect(dialled).toEqual([]);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs('-1')).toBeUndefined();
  });
});

describe('caps: size, total time, arguments', () => {
  it('cuts an over-size body at maxResponseBytes and says so; an exact fit is not truncated', async () => {
    routes.set('/big', (_req, res) => res.end(Buffer.alloc(200_000, 7)));
    routes.set('/fit', (_req, res) => res.end('0123456789'));
    const { tool } = harness(LOOPBACK_OK);
    const big = await tool.call(base(`http://a.test:${port}/big`, { maxResponseBytes: 1_000 }));
    expect(big.truncated).toBe(true);
    expect(big.body.length).toBe(1_000);
    const fit = await tool.call(base(`http://a.test:${port}/fit`, { maxResponseBytes: 10 }));
    expect(fit.truncated).toBe(false);
    expect(fit.body.toString()).toBe('0123456789');
  });

  it('one deadline for the whole call, retries and back-off included', async () => {
    routes.set('/slow', () => {});
    routes.set('/always503', (_req, res) => res.writeHead(503).end());
    const { tool } = harness({ ...LOOPBACK_OK, backoff: { baseMs: 300, maxMs: 300 } });
    let started = Date.now();
    const err = await failed(tool.call(base(`http://a.test:${port}/slow`, { timeoutMs: 300 })));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('the call took longer than 300 ms (waiting for a.test)');
    expect(Date.now() - started).toBeLessThan(2_500);
    started = Date.now();
    const res = await tool.call(base(`http://a.test:${port}/always503`, { timeoutMs: 500, retries: 10 }));
    expect(res.status).toBe(503);
    // Two attempts fit in 500 ms with 150-300 ms back-off; the third wait would pass the deadline.
    expect(seen.filter((r) => r.url === '/always503').length).toBeLessThanOrEqual(3);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('a caller abort stops a back-off wait', async () => {
    routes.set('/always503', (_req, res) => res.writeHead(503).end());
    const { tool } = harness({ ...LOOPBACK_OK, backoff: { baseMs: 5_000, maxMs: 5_000 } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled by the user')), 200);
    const started = Date.now();
    await expect(tool.call(base(`http://a.test:${port}/always503`, { timeoutMs: 20_000, signal: controller.signal }))).rejects.toThrow('cancelled by the user');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a header value with CR/LF and a bad header name before dialling', async () => {
    const { tool, dialled } = harness(LOOPBACK_OK);
    for (const headers of [{ 'x-a': 'b\r\nhost: evil.example' }, { 'x-a': 'b\nc' }, { 'bad name': 'x' }, { 'x-a': 'nul\u0000' }, { Host: 'evil.example' }, { 'Transfer-Encoding': 'chunked' }, { 'content-length': '5' }] as Record<string, string>[]) {
      const err = await tool.call(base(`http://a.test:${port}/`, { headers })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as Error).message).not.toContain('evil');
    }
    expect(dialled).toEqual([]);
  });

  it('refuses non-HTTP schemes and odd arguments at once', async () => {
    const { tool, dialled } = harness(LOOPBACK_OK);
    for (const url of ['file:///etc/passwd', 'gopher://a.test/', 'ftp://a.test/', 'ws://a.test/', 'data:text/plain,x']) {
      expect((await refused(tool.call(base(url)))).reason).toBe('scheme');
    }
    await expect(tool.call(base(`http://a.test:${port}/`, { method: 'CONNECT' }))).rejects.toThrow(TypeError);
    await expect(tool.call(base(`http://a.test:${port}/`, { maxRedirects: 99 }))).rejects.toThrow(TypeError);
    await expect(tool.call(base(`http://a.test:${port}/`, { timeoutMs: 0 }))).rejects.toThrow(TypeError);
    expect(dialled).toEqual([]);
  });
});
