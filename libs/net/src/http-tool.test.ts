import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildConnector } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import type { Resolver } from './guarded-connector.ts';
import { createHttpTool, retryAfterMs, type HttpToolOptions, type HttpToolRequest } from './http-tool.ts';
import { isLoopback } from './test-support.ts';
import { checkToolDestination } from './tool-policy.ts';
import { TemplateError } from './url-template.ts';

// Every name resolves through this table; only 127.0.0.1 is ever dialled (the
// harness refuses anything else, whatever the guard decides).
const TABLE: Record<string, string[]> = {
  'a.test': ['127.0.0.1'],
  'b.test': ['127.0.0.1'],
  'localhost': ['127.0.0.1', '::1'],
  'private.test': ['10.0.0.5'],
  'meta.test': ['169.254.169.254'],
  'public.test': ['93.184.215.14'],
  'mapped.test': ['::ffff:10.0.0.1'],
};

interface Seen {
  method: string;
  url: string;
  host: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let port = 0;
let closedPort = 0;
const seen: Seen[] = [];
const routes = new Map<string, Route>();
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

function harness(options: Partial<HttpToolOptions> = {}) {
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

const base = (url: string, extra: Partial<HttpToolRequest> = {}): HttpToolRequest => ({
  method: 'GET',
  url,
  toolAllowHosts: ['a.test', 'b.test'],
  timeoutMs: 5_000,
  maxResponseBytes: 64 * 1024,
  ...extra,
});

/** Operator list that permits loopback, so a.test / b.test (127.0.0.1) pass when a tool lists them. */
const LOOPBACK_OK = { operatorAllow: parseAllowList('127.0.0.0/8') };

async function refused(promise: Promise<unknown>): Promise<EgressRefusedError> {
  const err = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EgressRefusedError);
  return err as EgressRefusedError;
}

async function failed(promise: Promise<unknown>): Promise<HttpRequestError> {
  const err = await promise.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpRequestError);
  return err as HttpRequestError;
}

const redirect = (status: number, to: () => string): Route => (_req, res) => {
  res.writeHead(status, { location: to() }).end('moving');
};

describe('redirects, followed by hand and checked at every hop', () => {
  it('follows allowed → allowed; Authorization, Cookie and secret headers are dropped cross-origin, kept same-origin', async () => {
    routes.set('/start', redirect(302, () => '/same'));
    routes.set('/same', redirect(301, () => `http://b.test:${port}/end?token=t0ps3cret#frag`));
    routes.set('/end', (_req, res) => res.end('done'));
    const { tool, dialled, violations } = harness(LOOPBACK_OK);
    const res = await tool.call(
      base(`http://a.test:${port}/start`, {
        headers: { Authorization: 'Bearer s3cret', cookie: 'sid=1', 'X-Api-Key': 'k3y', 'x-trace': 'keep-me' },
        sensitiveHeaders: ['X-Api-Key'],
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('done');
    expect(res.redirects).toEqual([`http://a.test:${port}/same`, `http://b.test:${port}/end`]);
    expect(res.url).toBe(`http://b.test:${port}/end`);
    expect(seen.map((s) => `${s.host}${s.url}`)).toEqual([`a.test:${port}/start`, `a.test:${port}/same`, `b.test:${port}/end?token=t0ps3cret`]);
    expect(seen[1]?.headers.authorization).toBe('Bearer s3cret');
    expect(seen[1]?.headers['x-api-key']).toBe('k3y');
    const last = seen[2]?.headers ?? {};
    expect(last.authorization).toBeUndefined();
    expect(last.cookie).toBeUndefined();
    expect(last['x-api-key']).toBeUndefined();
    expect(last['x-trace']).toBe('keep-me');
    expect(violations).toEqual([]);
    expect(dialled.every((d) => d === '127.0.0.1')).toBe(true);
  });

  it('does not bring dropped credentials back when a later hop returns to the first origin', async () => {
    routes.set('/start', redirect(302, () => `http://b.test:${port}/bounce`));
    routes.set('/bounce', redirect(302, () => `http://a.test:${port}/end`));
    routes.set('/end', (_req, res) => res.end('ok'));
    const { tool } = harness(LOOPBACK_OK);
    await tool.call(base(`http://a.test:${port}/start`, { headers: { authorization: 'Bearer s3cret' } }));
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer s3cret', undefined, undefined]);
  });

  it.each([
    ['a private address by name', () => 'http://private.test/x', 'private', 'host private.test resolves to 10.0.0.5, which is a private address and not allow-listed'],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/', 'link_local', 'host 169.254.169.254 is a link-local address (the cloud metadata service) and not allow-listed'],
    ['an IPv4-mapped private address', () => 'http://[::ffff:10.0.0.1]/', 'private', 'host ::ffff:a00:1 (10.0.0.1) is a private address'],
    ['a decimal loopback', () => 'http://2130706433/', 'not_allowed_host', "host 127.0.0.1 is not in this tool's allow_hosts"],
    ['loopback by a name the tool does not list', () => `http://localhost:${port}/end`, 'not_allowed_host', "host localhost (resolving to 127.0.0.1) is not in this tool's allow_hosts"],
    ['a public host the tool does not list', () => 'http://public.test/', 'not_allowed_host', "host public.test (resolving to 93.184.215.14) is not in this tool's allow_hosts"],
    ['a file URL', () => 'file:///etc/passwd', 'scheme', 'the URL scheme file is refused'],
    ['a gopher URL', () => 'gopher://a.test:6379/_FLUSHALL', 'scheme', 'the URL scheme gopher is refused'],
    ['a URL with credentials', () => `http://user:pw@a.test:${port}/end`, 'userinfo', 'credentials'],
    ['a backslash trick', () => `http://a.test:${port}\\@10.0.0.5/`, 'invalid_url', 'backslash'],
  ])('refuses a redirect to %s at hop 2, before any dial', async (_name, to, reason, message) => {
    routes.set('/start', redirect(302, to));
    routes.set('/end', (_req, res) => res.end('must not be reached'));
    const { tool, dialled, violations } = harness(LOOPBACK_OK);
    // The tool lists the private targets too: the operator's list (loopback only) is what refuses them.
    const toolAllowHosts = ['a.test', 'b.test', 'private.test', '169.254.169.254', '::ffff:10.0.0.1'];
    const err = await refused(tool.call(base(`http://a.test:${port}/start`, { toolAllowHosts })));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(/^redirect 1 \(from a\.test\) refused: /);
    expect(err.message).toContain(message);
    expect(seen.map((s) => s.url)).toEqual(['/start']);
    expect(violations).toEqual([]);
    expect(dialled).toEqual(['127.0.0.1']);
  });

  it('refuses a redirect to a private host the operator permits but the tool does not list', async () => {
    routes.set('/start', redirect(307, () => 'http://private.test/'));
    const { tool, dialled, violations } = harness({ operatorAllow: parseAllowList('127.0.0.0/8, 10.0.0.0/8') });
    const err = await refused(tool.call(base(`http://a.test:${port}/start`)));
    expect(err.reason).toBe('not_allowed_host');
    expect(err.message).toBe("redirect 1 (from a.test) refused: host private.test is not in this tool's allow_hosts");
    expect(dialled).toEqual(['127.0.0.1']);
    expect(violations).toEqual([]);
  });

  it('follows at most maxRedirects (5 by default): five succeed, a sixth fails the call', async () => {
    routes.set('/loop', (req, res) => {
      const n = Number(new URL(req.url ?? '', 'http://x').searchParams.get('n'));
      if (n >= Number(new URL(req.url ?? '', 'http://x').searchParams.get('stop'))) res.end(`after ${n}`);
      else res.writeHead(302, { location: `/loop?n=${n + 1}&stop=${new URL(req.url ?? '', 'http://x').searchParams.get('stop')}` }).end();
    });
    const { tool } = harness(LOOPBACK_OK);
    const five = await tool.call(base(`http://a.test:${port}/loop?n=0&stop=5`));
    expect(five.body.toString()).toBe('after 5');
    expect(five.redirects).toHaveLength(5);
    seen.length = 0;
    const err = await failed(tool.call(base(`http://a.test:${port}/loop?n=0&stop=6`)));
    expect(err.kind).toBe('redirects');
    expect(err.message).toBe('more than 5 redirects (the last from a.test); stopped');
    expect(seen).toHaveLength(6);
    seen.length = 0;
    const two = await failed(tool.call(base(`http://a.test:${port}/loop?n=0&stop=3`, { maxRedirects: 2 })));
    expect(two.kind).toBe('redirects');
    // maxRedirects 0: the 3xx comes back as it is.
    seen.length = 0;
    const none = await tool.call(base(`http://a.test:${port}/loop?n=0&stop=3`, { maxRedirects: 0 }));
    expect(none.status).toBe(302);
    expect(seen).toHaveLength(1);
  });

  it('POST → 303 → GET without body or content headers; 307/308 keep method and body; 301/302 turn only POST into GET', async () => {
    routes.set('/s303', redirect(303, () => '/echo'));
    routes.set('/s307', redirect(307, () => '/echo'));
    routes.set('/s308', redirect(308, () => '/echo'));
    routes.set('/s302', redirect(302, () => '/echo'));
    routes.set('/echo', (req, res, body) => res.end(JSON.stringify({ method: req.method, body, type: req.headers['content-type'] ?? null })));
    const { tool } = harness(LOOPBACK_OK);
    const post = (path: string, method = 'POST') =>
      tool
        .call(base(`http://a.test:${port}${path}`, { method, body: '{"a":1}', headers: { 'content-type': 'application/json' } }))
        .then((r) => JSON.parse(r.body.toString()) as unknown);
    expect(await post('/s303')).toEqual({ method: 'GET', body: '', type: null });
    expect(await post('/s307')).toEqual({ method: 'POST', body: '{"a":1}', type: 'application/json' });
    expect(await post('/s308')).toEqual({ method: 'POST', body: '{"a":1}', type: 'application/json' });
    expect(await post('/s302')).toEqual({ method: 'GET', body: '', type: null });
    expect(await post('/s302', 'PUT')).toEqual({ method: 'PUT', body: '{"a":1}', type: 'application/json' });
    expect(await post('/s303', 'PUT')).toEqual({ method: 'GET', body: '', type: null });
  });

  it('returns a 3xx without a location as it is', async () => {
    routes.set('/nowhere', (_req, res) => res.writeHead(302).end('no location'));
    const { tool } = harness(LOOPBACK_OK);
    const res = await tool.call(base(`http://a.test:${port}/nowhere`));
    expect(res.status).toBe(302);
    expect(res.redirects).toEqual([]);
  });
});

describe('the double allow list (tool allow_hosts AND operator TOOLS_HTTP_ALLOW)', () => {
  it.each([
    ['neither', [], '', "neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it"],
    ['tool only', ['a.test'], '', "the operator's TOOLS_HTTP_ALLOW does not permit it"],
    ['operator only', [], '127.0.0.0/8', "the tool's allow_hosts does not list it"],
  ])('loopback over real HTTP: %s → refused before dialling', async (_name, toolAllowHosts, operator, why) => {
    routes.set('/end', (_req, res) => res.end('must not be reached'));
    const { tool, dialled } = harness({ operatorAllow: parseAllowList(operator) });
    const err = await refused(tool.call(base(`http://a.test:${port}/end`, { toolAllowHosts })));
    expect(err.reason).toBe('loopback');
    expect(err.message).toBe(`host a.test resolves to 127.0.0.1, which is a loopback address and not allow-listed (${why})`);
    expect(dialled).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('loopback over real HTTP: both → reached (by name in the tool list, by CIDR or name in the operator list)', async () => {
    routes.set('/end', (_req, res) => res.end('reached'));
    for (const operator of ['127.0.0.0/8', 'a.test', '*.test']) {
      const { tool, dialled } = harness({ operatorAllow: parseAllowList(operator) });
      expect((await tool.call(base(`http://a.test:${port}/end`, { toolAllowHosts: ['a.test'] }))).body.toString()).toBe('reached');
      expect(dialled).toEqual(['127.0.0.1']);
    }
    // The tool may list the address (or its CIDR) instead of the name.
    const { tool } = harness({ operatorAllow: parseAllowList('a.test') });
    expect((await tool.call(base(`http://a.test:${port}/end`, { toolAllowHosts: ['127.0.0.0/8'] }))).status).toBe(200);
    expect((await tool.call(base(`http://127.0.0.1:${port}/end`, { toolAllowHosts: ['127.0.0.1'] })).catch((e: unknown) => e))).toBeInstanceOf(EgressRefusedError);
  });

  const decide = (url: string, toolAllowHosts: string[], operator: string) =>
    checkToolDestination(url, { operatorAllow: parseAllowList(operator), toolAllowHosts, resolver: tableOnly });
  const tableOnly: Resolver = async (host) => (TABLE[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);

  it.each([
    // url, tool allow_hosts, operator list, refused reason (undefined = passes)
    ['http://private.test/', [], '', 'private'],
    ['http://private.test/', ['private.test'], '', 'private'],
    ['http://private.test/', [], '10.0.0.0/8', 'private'],
    ['http://private.test/', ['private.test'], '10.0.0.0/8', undefined],
    ['http://private.test/', ['private.test'], 'private.test', undefined],
    ['http://private.test/', ['10.0.0.5'], '10.0.0.0/8', undefined],
    ['http://private.test/', ['*.test'], '10.0.0.0/24', undefined],
    ['http://private.test/', ['private.test'], '10.1.0.0/16', 'private'],
    ['http://10.0.0.5/', ['10.0.0.5'], '10.0.0.5', undefined],
    ['http://10.0.0.5/', ['10.0.0.5'], '', 'private'],
    ['http://10.0.0.5/', [], '10.0.0.5', 'private'],
    ['http://meta.test/', ['meta.test'], '', 'link_local'],
    ['http://mapped.test/', ['mapped.test'], '', 'private'],
    ['http://mapped.test/', ['mapped.test'], '10.0.0.0/8', undefined],
    // Public destinations: any, when allow_hosts is empty; only those listed otherwise.
    ['http://public.test/', [], '', undefined],
    ['https://public.test/', ['public.test'], '', undefined],
    ['http://public.test/', ['a.test'], '', 'not_allowed_host'],
    ['http://public.test/', ['93.184.215.0/24'], '', undefined],
    ['http://public.test/', ['10.0.0.0/8'], '', 'not_allowed_host'],
    ['http://93.184.215.14/', [], '', undefined],
    ['http://93.184.215.14/', ['public.test'], '', 'not_allowed_host'],
    ['ftp://public.test/', [], '', 'scheme'],
  ])('%s with allow_hosts %j and operator %j → %s', async (url, toolAllowHosts, operator, reason) => {
    const outcome = await decide(url, toolAllowHosts, operator).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (reason === undefined) expect(outcome).toBeUndefined();
    else {
      expect(outcome).toBeInstanceOf(EgressRefusedError);
      expect((outcome as EgressRefusedError).reason).toBe(reason);
    }
  });

  it('a connection opened under one call\'s allow lists is never reused by a call that is not allowed', async () => {
    routes.set('/end', (_req, res) => res.end('reached'));
    const { tool, dialled } = harness(LOOPBACK_OK);
    expect((await tool.call(base(`http://a.test:${port}/end`))).status).toBe(200);
    const err = await refused(tool.call(base(`http://a.test:${port}/end`, { toolAllowHosts: [] })));
    expect(err.reason).toBe('loopback');
    expect(dialled).toEqual(['127.0.0.1']);
    expect(seen).toHaveLength(1);
  });

  it('refuses a name outside a names-only allow_hosts without resolving it', async () => {
    const { tool, asked, dialled } = harness();
    const err = await refused(tool.call(base('https://public.test/x', { toolAllowHosts: ['a.test'] })));
    expect(err.message).toBe("host public.test is not in this tool's allow_hosts");
    expect(asked).toEqual([]);
    expect(dialled).toEqual([]);
  });

  it('rejects a malformed allow_hosts entry with a readable error', async () => {
    const { tool, dialled } = harness();
    const err = await tool.call(base(`http://a.test:${port}/`, { toolAllowHosts: ['a.test,b.test'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toContain('allow_hosts entry');
    expect(await tool.call(base(`http://a.test:${port}/`, { toolAllowHosts: ['bad host!'] })).catch((e: unknown) => e)).toBeInstanceOf(TemplateError);
    expect(dialled).toEqual([]);
  });
});

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
