import { describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError } from './errors.ts';
import type { Resolver } from './guarded-connector.ts';
import { LOOPBACK_OK, TABLE, base, failed, harness, port, redirect, refused, routes, seen, useToolServer } from './http-tool-harness.ts';
import { checkToolDestination } from './tool-policy.ts';
import { TemplateError } from './url-template.ts';

useToolServer();

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
