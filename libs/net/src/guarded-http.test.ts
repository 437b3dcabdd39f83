import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import type { Resolver } from './guarded-connector.ts';
import { checkDestination, createGuardedHttp, createGuardedHttpWithDial, isRedirectStatus, type GuardedHttp, type GuardedHttpOptions } from './guarded-http.ts';
import { loopbackOnlyDial, selfSignedCertificate, startHttpServer, startHttpsServer, type TestCertificate, type TestServer } from './test-support.ts';

const GET = { method: 'GET', timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };

/** A resolver from a fixed table that records every name it is asked. */
function tableResolver(table: Record<string, string[]>) {
  const asked: string[] = [];
  const resolver: Resolver = async (host) => {
    asked.push(host);
    const answers = table[host];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  return { resolver, asked };
}

const clients: GuardedHttp[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A guarded client whose dial refuses anything but loopback, whatever the guard decides. */
function guarded(options: Partial<GuardedHttpOptions> & { allow?: GuardedHttpOptions['allow'] } = {}) {
  const harness = loopbackOnlyDial();
  const client = createGuardedHttpWithDial({ allow: parseAllowList(''), ...options }, harness.wrap);
  clients.push(client);
  return { client, ...harness };
}

async function refusal(promise: Promise<unknown>): Promise<EgressRefusedError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the request to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EgressRefusedError);
  return err as EgressRefusedError;
}

async function failure(promise: Promise<unknown>): Promise<HttpRequestError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpRequestError);
  return err as HttpRequestError;
}

describe('SSRF decisions (nothing leaves loopback; refusals come from the guard before any dial)', () => {
  it.each([
    ['https://2130706433/', 'loopback'],
    ['https://017700000001/', 'loopback'],
    ['https://0x7f.1/', 'loopback'],
    ['https://0x7f000001/', 'loopback'],
    ['https://127.1/', 'loopback'],
    ['https://127.0.0.1./', 'loopback'],
    ['https://[::1]/', 'loopback'],
    ['https://[::ffff:127.0.0.1]/', 'loopback'],
    ['https://[::ffff:7f00:1]/', 'loopback'],
    ['https://[0:0:0:0:0:ffff:127.0.0.1]:8443/', 'loopback'],
    ['https://[::127.0.0.1]/', 'embedded_ipv4'],
    ['https://[64:ff9b::a00:1]/', 'embedded_ipv4'],
    ['https://[64:ff9b::127.0.0.1]/', 'embedded_ipv4'],
    ['https://[2002:0a00:0001::]/', 'embedded_ipv4'],
    ['https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/', 'embedded_ipv4'],
    ['https://[fe80::]/', 'link_local'],
    ['https://[fe80::1]/', 'link_local'],
    ['https://[fc00::]/', 'unique_local'],
    ['https://[fd00:ec2::254]/latest/meta-data/', 'unique_local'],
    ['https://100.64.0.1/', 'carrier_grade_nat'],
    ['https://169.254.169.254/latest/meta-data/iam/security-credentials/', 'link_local'],
    ['http://169.254.169.254/computeMetadata/v1/', 'link_local'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://0/', 'unspecified'],
    ['https://[::]/', 'unspecified'],
    ['https://10.0.0.1/', 'private'],
    ['https://172.16.0.1/', 'private'],
    ['https://192.168.1.1/', 'private'],
    ['https://%31%30.0.0.1/', 'private'],
    ['https://①⓪.0.0.1/', 'private'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://255.255.255.255/', 'broadcast'],
    ['https://240.0.0.1/', 'reserved'],
    ['https://168.63.129.16/', 'metadata'],
  ])('%s is refused as %s', async (url, reason) => {
    const { resolver, asked } = tableResolver({});
    const { client, dialled, violations } = guarded({ resolver });
    const err = await refusal(client.request(url, GET));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(/allow-list it to permit$/);
    expect(asked).toEqual([]); // IP literals are never resolved
    expect(dialled).toEqual([]);
    expect(violations).toEqual([]);
  });

  it.each([
    ['hooks.example', ['10.0.0.7'], 'private', 'hooks.example resolves to 10.0.0.7, a private address; allow-list it to permit'],
    ['meta.example', ['169.254.169.254'], 'link_local', 'meta.example resolves to 169.254.169.254, a link-local address (the cloud metadata service); allow-list it to permit'],
    ['ec2.example', ['fd00:ec2::254'], 'unique_local', undefined],
    ['mapped.example', ['::ffff:10.0.0.1'], 'private', 'mapped.example resolves to ::ffff:10.0.0.1 (10.0.0.1), a private address; allow-list it to permit'],
    ['nat64.example', ['64:ff9b::a00:1'], 'embedded_ipv4', undefined],
    ['cgnat.example', ['100.64.0.1'], 'carrier_grade_nat', undefined],
    ['localhost', ['127.0.0.1', '::1'], 'loopback', undefined],
    ['localhost.', ['127.0.0.1'], 'loopback', 'localhost resolves to 127.0.0.1, a loopback address; allow-list it to permit'],
    // Every answer is checked, not only the first.
    ['mixed.example', ['93.184.215.14', '10.0.0.7'], 'private', undefined],
    ['mixed6.example', ['2606:4700:4700::1111', 'fe80::1'], 'link_local', undefined],
    ['garbage.example', ['93.184.215.14', 'not-an-ip'], 'invalid_address', undefined],
  ])('%s resolving to %j is refused as %s', async (host, answers, reason, message) => {
    const { resolver, asked } = tableResolver({ [host]: answers });
    const { client, dialled, violations } = guarded({ resolver });
    const err = await refusal(client.request(`https://${host}/hook`, GET));
    expect(err.reason).toBe(reason);
    if (message) expect(err.message).toBe(message);
    expect(asked).toEqual([host]);
    expect(dialled).toEqual([]);
    expect(violations).toEqual([]);
  });

  it.each([
    'https://public.example@127.0.0.1/',
    'https://127.0.0.1@public.example/',
    'https://user:hunter2@hooks.example/',
    'https://:hunter2@hooks.example/',
    'http://public.example:80@127.0.0.1:8080/',
  ])('refuses credentials in %s even when the host is allow-listed', async (url) => {
    const { client, dialled } = guarded({ allow: parseAllowList('127.0.0.1, hooks.example, public.example') });
    const err = await refusal(client.request(url, GET));
    expect(err.reason).toBe('userinfo');
    expect(err.message).not.toContain('hunter2');
    expect(dialled).toEqual([]);
  });

  it.each(['ftp://hooks.example/x', 'file:///etc/passwd', 'gopher://127.0.0.1:6379/_FLUSHALL', 'data:text/plain,hi', 'javascript:alert(1)', 'ws://hooks.example/', 'dict://127.0.0.1:11211/'])(
    'refuses the scheme of %s',
    async (url) => {
      const { client, dialled } = guarded({ allow: parseAllowList('127.0.0.1, hooks.example') });
      expect((await refusal(client.request(url, GET))).reason).toBe('scheme');
      expect(dialled).toEqual([]);
    },
  );

  it.each(['not a url', '/relative/path', 'https://', 'https://exa mple.com/?token=s3cr3t', 'https://hooks.example\\@127.0.0.1/?s3cr3t', 'https://hooks.example/a\tb?s3cr3t', 'https://hooks.example/\n?s3cr3t', ' https://hooks.example/?s3cr3t'])('refuses the invalid URL %j without echoing it', async (url) => {
    const { client, dialled } = guarded();
    const err = await refusal(client.request(url, GET));
    expect(err.reason).toBe('invalid_url');
    expect(err.message).not.toContain('s3cr3t');
    expect(dialled).toEqual([]);
  });

  it('refuses plain http unless permitted, before resolving or dialling', async () => {
    const { resolver, asked } = tableResolver({ 'hooks.example': ['93.184.215.14'] });
    const { client, dialled } = guarded({ resolver, allow: parseAllowList('127.0.0.1, hooks.example') });
    expect((await refusal(client.request('http://hooks.example/x', GET))).reason).toBe('insecure_http');
    expect((await refusal(client.request('http://127.0.0.1:9/x', GET))).reason).toBe('insecure_http');
    expect(asked).toEqual([]);
    expect(dialled).toEqual([]);
  });

  it('with allowHttpForAllowListed, refuses plain http to a public name at the connector, before dialling', async () => {
    const { resolver, asked } = tableResolver({ 'public.example': ['93.184.215.14'] });
    const { client, dialled } = guarded({ resolver, allowHttpForAllowListed: true, allow: parseAllowList('10.0.0.0/8') });
    const err = await refusal(client.request('http://public.example/x', GET));
    expect(err.reason).toBe('insecure_http');
    expect(asked).toEqual(['public.example']);
    expect(dialled).toEqual([]);
    expect((await refusal(client.request('http://93.184.215.14/x', GET))).reason).toBe('insecure_http');
  });

  it('reports a name that does not resolve, resolves to nothing, or takes too long, as a connection failure', async () => {
    const never: Resolver = () => new Promise(() => {});
    const empty: Resolver = async () => [];
    const { client: c1 } = guarded({ resolver: tableResolver({}).resolver });
    expect((await failure(c1.request('https://nowhere.example/', GET))).kind).toBe('connection');
    const { client: c2 } = guarded({ resolver: empty });
    expect((await failure(c2.request('https://nowhere.example/', GET))).message).toBe('nowhere.example did not resolve to any address');
    const { client: c3, dialled } = guarded({ resolver: never, connectTimeoutMs: 200 });
    const started = Date.now();
    expect((await failure(c3.request('https://slow-dns.example/', GET))).kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(dialled).toEqual([]);
  });

  it('refuses caller headers that would redirect or smuggle the request, before dialling', async () => {
    const { client, dialled } = guarded({ allow: parseAllowList('127.0.0.1') });
    for (const name of ['Host', 'connection', 'Transfer-Encoding', 'proxy-authorization']) {
      await expect(client.request('https://127.0.0.1:9/', { ...GET, headers: { [name]: 'x' } })).rejects.toThrow(TypeError);
    }
    // Header values that would split the request are the caller's bug, refused by undici before anything is sent.
    const split = await client.request('https://127.0.0.1:9/', { ...GET, headers: { 'x-a': 'b\r\nhost: evil.example' } }).catch((e: unknown) => e);
    expect(split).toBeInstanceOf(Error);
    expect(split).not.toBeInstanceOf(HttpRequestError);
    await expect(client.request('https://127.0.0.1:9/', { ...GET, method: 'CONNECT' })).rejects.toThrow(TypeError);
    await expect(client.request('https://127.0.0.1:9/', { ...GET, method: 'get' })).rejects.toThrow(TypeError);
    expect(dialled).toEqual([]);
  });
});

describe('checkDestination (the decision without a connection)', () => {
  it('passes public and allow-listed destinations, refuses the rest, resolving once', async () => {
    const { resolver, asked } = tableResolver({
      'public.example': ['93.184.215.14', '2606:4700:4700::1111'],
      'hooks.internal': ['10.0.0.7'],
      'rebind.example': ['93.184.215.14', '127.0.0.1'],
    });
    const allow = parseAllowList('hooks.internal');
    await expect(checkDestination('https://public.example/hook?token=x', { allow, resolver })).resolves.toBeUndefined();
    await expect(checkDestination('https://hooks.internal/hook', { allow, resolver })).resolves.toBeUndefined();
    await expect(checkDestination('https://rebind.example/', { allow, resolver })).rejects.toMatchObject({ reason: 'loopback' });
    await expect(checkDestination('https://169.254.169.254/', { allow, resolver })).rejects.toMatchObject({ reason: 'link_local' });
    await expect(checkDestination('http://public.example/', { allow, resolver })).rejects.toMatchObject({ reason: 'insecure_http' });
    await expect(checkDestination('https://u:p@public.example/', { allow, resolver })).rejects.toMatchObject({ reason: 'userinfo' });
    await expect(checkDestination('https://missing.example/', { allow, resolver })).rejects.toMatchObject({ kind: 'connection' });
    expect(asked).toEqual(['public.example', 'hooks.internal', 'rebind.example', 'missing.example']);
  });
});

describe('client lifecycle and arguments', () => {
  it('refuses bad deadlines and caps, and requests after close; close is idempotent', async () => {
    const client = createGuardedHttp({ allow: parseAllowList('') });
    for (const bad of [{ timeoutMs: 0 }, { timeoutMs: -1 }, { timeoutMs: Number.NaN }, { timeoutMs: 2 ** 31 }, { maxResponseBytes: -1 }, { maxResponseBytes: 1.5 }]) {
      await expect(client.request('https://public.example/', { ...GET, ...bad })).rejects.toThrow(TypeError);
    }
    await Promise.all([client.close(), client.close()]);
    await client.close();
    await expect(client.request('https://public.example/', GET)).rejects.toThrow('closed');
  });
});

describe('over real local servers', () => {
  let cert: TestCertificate;
  let https: TestServer;
  let http: TestServer;

  beforeAll(async () => {
    cert = selfSignedCertificate();
    https = await startHttpsServer(cert);
    http = await startHttpServer();
  });
  afterAll(async () => {
    await Promise.all([https?.close(), http?.close()]);
  });

  const base = () => `https://127.0.0.1:${https.port}`;
  const allowLoopback = () => ({ allow: parseAllowList('127.0.0.1'), ca: cert.cert });

  it('reaches an allow-listed HTTPS server, verifying its certificate with the extra CA', async () => {
    const { client, dialled, violations } = guarded(allowLoopback());
    const res = await client.request(`${base()}/ok`, GET);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    expect(res.headers['x-multi']).toBe('a, b');
    expect(dialled).toEqual(['127.0.0.1']);
    expect(violations).toEqual([]);
  });

  it('the plain factory (no test dial) works the same', async () => {
    const client = createGuardedHttp(allowLoopback());
    clients.push(client);
    const res = await client.request(`${base()}/ok`, GET);
    expect(res.status).toBe(200);
    const strict = createGuardedHttp({ allow: parseAllowList('') });
    clients.push(strict);
    await expect(strict.request(`${base()}/ok`, GET)).rejects.toBeInstanceOf(EgressRefusedError);
  });

  it('reaches an allow-listed name through the resolver; TLS checks the name; sends body, headers and the user agent', async () => {
    const { resolver } = tableResolver({ 'hooks.test': ['127.0.0.1'], 'hooks.test.': ['127.0.0.1'] });
    const { client, dialled } = guarded({ resolver, allow: parseAllowList('hooks.test'), ca: cert.cert, userAgent: 'csda-vault/1' });
    const res = await client.request(`https://hooks.test:${https.port}/echo?x=1`, {
      ...GET,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'webhook-id': 'msg_1' },
      body: '{"a":1}',
    });
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body.toString());
    expect(echoed).toMatchObject({ method: 'POST', url: '/echo?x=1', body: '{"a":1}' });
    expect(echoed.headers).toMatchObject({ host: `hooks.test:${https.port}`, 'user-agent': 'csda-vault/1', 'content-type': 'application/json', 'webhook-id': 'msg_1' });
    // A trailing-dot spelling of the same name is the same allow-listed host.
    const dotted = await client.request(`https://hooks.test.:${https.port}/ok`, GET);
    expect(dotted.status).toBe(200);
    expect(dialled.every((a) => a === '127.0.0.1')).toBe(true);
  });

  it('fails TLS without the CA, and for a name the certificate does not cover', async () => {
    const { client: noCa } = guarded({ allow: parseAllowList('127.0.0.1') });
    const err = await failure(noCa.request(`${base()}/ok`, GET));
    expect(err.kind).toBe('connection');
    expect(err.message).toMatch(/^TLS with 127\.0\.0\.1 failed/);
    const { resolver } = tableResolver({ 'other.test': ['127.0.0.1'] });
    const { client: wrongName } = guarded({ resolver, allow: parseAllowList('other.test'), ca: cert.cert });
    expect((await failure(wrongName.request(`https://other.test:${https.port}/ok`, GET))).kind).toBe('connection');
  });

  it('returns a 3xx as it is and never follows it', async () => {
    const before = https.requests.filter((r) => r.url === '/redirect-target').length;
    const { client } = guarded(allowLoopback());
    const res = await client.request(`${base()}/redirect`, GET);
    expect(res.status).toBe(302);
    expect(isRedirectStatus(res.status)).toBe(true);
    expect(res.headers.location).toBe(`${base()}/redirect-target`);
    expect(res.body.toString()).toBe('moved');
    await new Promise((r) => setTimeout(r, 100));
    expect(https.requests.filter((r) => r.url === '/redirect-target').length).toBe(before);
  });

  it('times out the whole request: no answer, or a body that never ends', async () => {
    const { client } = guarded(allowLoopback());
    let started = Date.now();
    const slow = await failure(client.request(`${base()}/slow`, { ...GET, timeoutMs: 300 }));
    expect(slow.kind).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(3_000);
    started = Date.now();
    // Headers arrive at once and a byte every 50 ms: no inactivity timer fires, the deadline does.
    const drip = await failure(client.request(`${base()}/drip`, { ...GET, timeoutMs: 400 }));
    expect(drip.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('caps the response size: by content-length, and while streaming', async () => {
    const { client } = guarded(allowLoopback());
    expect((await client.request(`${base()}/ok`, { ...GET, maxResponseBytes: 5 })).body.toString()).toBe('hello');
    expect((await failure(client.request(`${base()}/ok`, { ...GET, maxResponseBytes: 4 }))).kind).toBe('too_large');
    expect((await failure(client.request(`${base()}/big`, { ...GET, maxResponseBytes: 1000 }))).kind).toBe('too_large');
    const started = Date.now();
    const streamed = await failure(client.request(`${base()}/stream`, { ...GET, maxResponseBytes: 256 * 1024, timeoutMs: 20_000 }));
    expect(streamed.kind).toBe('too_large');
    expect(streamed.message).toBe('response from 127.0.0.1 is larger than 262144 bytes');
    expect(Date.now() - started).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 200));
    // The client hung up: the server got nowhere near the 50 MiB it meant to send.
    expect(https.streamed()).toBeLessThan(16 * 1024 * 1024);
  });

  it('passes the caller abort reason through', async () => {
    const { client } = guarded(allowLoopback());
    const controller = new AbortController();
    const reason = new Error('shutting down');
    setTimeout(() => controller.abort(reason), 100);
    await expect(client.request(`${base()}/slow`, { ...GET, signal: controller.signal })).rejects.toBe(reason);
  });

  it('reports broken HTTP as a protocol failure', async () => {
    const { client } = guarded(allowLoopback());
    expect((await failure(client.request(`${base()}/garbage`, GET))).kind).toBe('protocol');
  });

  it('uses the system resolver by default: localhost is refused unless allow-listed', async () => {
    const { client: strict, dialled } = guarded({ allowHttpForAllowListed: true });
    expect((await refusal(strict.request(`https://localhost:${https.port}/ok`, GET))).reason).toBe('loopback');
    expect(dialled).toEqual([]);
    // localhost may answer ::1 first, where nothing listens: the next checked address is tried.
    const { client, dialled: reached } = guarded({ allow: parseAllowList('localhost'), allowHttpForAllowListed: true });
    expect((await client.request(`http://localhost:${http.port}/ok`, GET)).status).toBe(200);
    expect(reached.at(-1)).toBe('127.0.0.1');
  });

  it('reports a refused connection as a connection failure', async () => {
    const { client } = guarded({ allow: parseAllowList('127.0.0.0/8'), ca: cert.cert });
    const err = await failure(client.request('https://127.0.0.1:1/', GET));
    expect(err.kind).toBe('connection');
    expect(err.message).toBe('connection to 127.0.0.1 failed (ECONNREFUSED)');
  });

  it('plain http: refused by default, allowed for allow-listed destinations when permitted', async () => {
    const url = `http://127.0.0.1:${http.port}/ok`;
    const connectionsBefore = http.connections();
    const { client: strict } = guarded({ allow: parseAllowList('127.0.0.1') });
    expect((await refusal(strict.request(url, GET))).reason).toBe('insecure_http');
    expect(http.connections()).toBe(connectionsBefore);

    const { client: permitted } = guarded({ allow: parseAllowList('127.0.0.1'), allowHttpForAllowListed: true });
    expect((await permitted.request(url, GET)).status).toBe(200);

    // A name that is not allow-listed itself, resolving into an allow-listed CIDR.
    const { resolver } = tableResolver({ 'receiver.internal': ['127.0.0.1'] });
    const { client: byCidr } = guarded({ resolver, allow: parseAllowList('127.0.0.0/8'), allowHttpForAllowListed: true });
    expect((await byCidr.request(`http://receiver.internal:${http.port}/ok`, GET)).status).toBe(200);

    const { client: optedOut } = guarded({ allow: parseAllowList('127.0.0.1'), requireHttps: false });
    expect((await optedOut.request(url, GET)).status).toBe(200);
  });
});

describe('DNS rebinding', () => {
  let cert: TestCertificate;
  let checked: TestServer; // 127.0.0.2: stands in for the public address the guard approves
  let target: TestServer; // 127.0.0.1: where a rebinding attacker wants the request to land

  beforeAll(async () => {
    cert = selfSignedCertificate();
    checked = await startHttpsServer(cert, '127.0.0.2');
    // Same port on 127.0.0.1, so a second resolution would reach it with the same URL.
    target = await startOnPort(cert, '127.0.0.1', checked.port);
  });
  afterAll(async () => {
    await Promise.all([checked?.close(), target?.close()]);
  });

  it('connects to the address it checked, and re-checks a new connection', async () => {
    let calls = 0;
    const resolver: Resolver = async () => {
      calls += 1;
      return [{ address: calls === 1 ? '127.0.0.2' : '127.0.0.1', family: 4 }];
    };
    const { client, dialled, violations } = guarded({ resolver, allow: parseAllowList('127.0.0.2'), ca: cert.cert });
    const url = `https://rebind.test:${checked.port}`;
    const first = await client.request(`${url}/close`, GET);
    expect(first.status).toBe(200);
    expect(calls).toBe(1);
    expect(checked.requests.map((r) => r.url)).toEqual(['/close']);
    // The server closed that connection: the next request resolves again, gets 127.0.0.1, and is refused.
    const err = await refusal(client.request(`${url}/ok`, GET));
    expect(err.reason).toBe('loopback');
    expect(err.message).toBe('rebind.test resolves to 127.0.0.1, a loopback address; allow-list it to permit');
    expect(calls).toBe(2);
    expect(target.connections()).toBe(0);
    expect(dialled).toEqual(['127.0.0.2']);
    expect(violations).toEqual([]);
  });

  it('refuses an answer that mixes an allowed and a refused address, connecting to neither', async () => {
    const resolver: Resolver = async () => [
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    const checkedBefore = checked.connections();
    const { client, dialled } = guarded({ resolver, allow: parseAllowList('127.0.0.2'), ca: cert.cert });
    expect((await refusal(client.request(`https://rebind.test:${checked.port}/ok`, GET))).reason).toBe('loopback');
    expect(dialled).toEqual([]);
    expect(checked.connections()).toBe(checkedBefore);
    expect(target.connections()).toBe(0);
  });
});

async function startOnPort(cert: TestCertificate, host: string, port: number): Promise<TestServer> {
  const { createServer } = await import('node:https');
  const server = createServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end('rebound!'));
  let connections = 0;
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    host,
    port,
    connections: () => connections,
    requests: [],
    streamed: () => 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
