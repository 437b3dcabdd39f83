import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parsePrivateKey, principalHeaders, signingKeyOf } from '@csda/auth';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { Redis } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, freePort, natsUrl, query, spawnService, startStack, testNamespace, waitFor, type RunningService, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeToolPatch } from '../src/tools/tools.schemas.ts';
import { restClient, type RestResponse } from './support/rest.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

/**
 * The cache on the real stack, attacked. Two gateways share the services: the
 * one under test (cache on, its Redis behind a relay the test can cut) and an
 * oracle with CACHE_ENABLED=false. Every answer of the cached gateway must equal
 * what the oracle answers the same caller at the same moment: a foreign or stale
 * answer is a difference.
 */
describe('gateway cache on the real stack', () => {
  const namespace = testNamespace();
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  let db: TestDatabase;
  let stack: Stack;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let oracle: RunningService;
  let oracleUrl = '';
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const docs: Record<string, string> = {};
  const cached = restClient(() => stack.gatewayUrl);
  const plain = restClient(() => oracleUrl);

  const raw = async (base: string, method: string, path: string, token: string | undefined, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } });
  /** The same read through both gateways: the cached answer must be the oracle's. */
  const same = async (user: string, path: string, body?: unknown): Promise<RestResponse> => {
    const method = body === undefined ? 'GET' : 'POST';
    const mine = await cached.api(method, path, tokens[user], body);
    const truth = await plain.api(method, path, tokens[user], body);
    // An error names its own request id; everything else must match.
    const comparable = (r: RestResponse) => ({ user, path, status: r.status, body: r.body?.error ? { error: { ...r.body.error, request_id: '' } } : r.body });
    expect(comparable(mine)).toEqual(comparable(truth));
    return mine;
  };
  const xCache = async (user: string, path: string) => (await raw(stack.gatewayUrl, 'GET', path, tokens[user]!)).headers.get('x-cache');
  /** Repeats a read until it is a hit: change events of a write just made may still bump its counters once or twice. */
  const settlesToHit = (user: string, path: string) => waitFor(async () => (await xCache(user, path)) === 'hit', { timeoutMs: 5_000, what: `${user} ${path} cached` });
  const upload = async (title: string, text: string, fields: Record<string, string> = {}) => {
    const form = new FormData();
    form.set('title', title);
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    form.set('file', new Blob([text], { type: 'text/plain' }), `${title}.txt`);
    const res = await fetch(`${stack.gatewayUrl}/api/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${tokens.alice}` }, body: form });
    const json = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(json)).toBe(202);
    return json.id;
  };
  const login = async (name: string) => (tokens[name] = await cached.login(name, name === 'admin' ? stack.env.ADMIN_INITIAL_PASSWORD! : password));
  const search = (q: string) => ({ query: q, mode: 'keyword', top_k: 10 });
  const hitIds = (res: RestResponse) => (res.body?.results ?? []).map((r: { document_id: string }) => r.document_id);

  beforeAll(async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
    db = await createTestDatabase('cache_security');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NATS_URL: natsUrl(), CACHE_REDIS_URL: proxy.url } });
    const port = await freePort();
    oracle = spawnService('gateway', { ...stack.envFor('gateway'), CACHE_ENABLED: 'false', OPS_PORT: String(await freePort()) }, await freePort(), port);
    oracleUrl = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${oracleUrl}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: `oracle gateway ready\n${oracle.logs()}` });
    // A role only some users hold, with USER's permissions.
    await query(db.url, `insert into identity.roles (name, description, permissions) select 'ANALYST', 'test role', permissions from identity.roles where name = 'USER'`);
    await login('admin');
    for (const name of ['alice', 'bob', 'carol']) {
      const created = await cached.api('POST', '/api/v1/users', tokens.admin, { username: name, email: `${name}@example.test`, password });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids[name] = created.body!.id;
    }
    expect((await cached.api('PUT', `/api/v1/users/${ids.bob}/roles`, tokens.admin, { roles: ['USER', 'ANALYST'] })).status).toBe(200);
    for (const name of ['alice', 'bob', 'carol']) await login(name);
    docs.private = await upload('private-notes', 'alpha zebra quartz private words');
    docs.public = await upload('public-notes', 'papaya zebra quartz public words', { is_public: 'true' });
    docs.shared = await upload('shared-notes', 'saffron zebra quartz shared words', { shared_with_roles: 'ANALYST' });
    for (const id of Object.values(docs)) {
      await waitFor(async () => (await plain.api('GET', `/api/v1/documents/${id}`, tokens.alice)).body?.status === 'ready', { timeoutMs: 120_000, what: `document ${id} ready` });
    }
  }, 300_000);

  afterAll(async () => {
    if (oracle && oracle.process.exitCode === null) {
      const exited = once(oracle.process, 'exit');
      oracle.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        process.stderr.write(`oracle gateway still running 15 s after SIGTERM:\n${oracle.logs().slice(-3_000)}\n`);
        oracle.process.kill('SIGKILL');
      }, 15_000);
      await exited;
      clearTimeout(timer);
    }
    const t0 = Date.now();
    const codes = await stack?.stop();
    if (Date.now() - t0 > 10_000) process.stderr.write(`stack stop took ${Date.now() - t0} ms: ${JSON.stringify(codes)}\n${stack.services.gateway.logs().slice(-3_000)}\n`);
    await proxy?.close();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('gives every caller exactly their own answer: owners, role holders, others, admins; repeats are hits', async () => {
    const paths = ['/api/v1/documents', '/api/v1/documents?limit=2', ...Object.values(docs).map((id) => `/api/v1/documents/${id}`)];
    for (const user of ['alice', 'bob', 'carol', 'admin']) {
      for (const path of paths) {
        const first = await same(user, path);
        const again = await same(user, path);
        if (first.status === 200) {
          expect(again.body).toEqual(first.body);
          await settlesToHit(user, path);
        }
      }
    }
    const visible = async (user: string) => (await cached.api('GET', '/api/v1/documents', tokens[user])).body!.items.map((d: { id: string }) => d.id).sort();
    expect(await visible('alice')).toEqual(Object.values(docs).sort());
    expect(await visible('bob')).toEqual([docs.public, docs.shared].sort());
    expect(await visible('carol')).toEqual([docs.public]);
    expect((await cached.api('GET', `/api/v1/documents/${docs.private}`, tokens.bob)).status).toBe(404);
  });

  it('query strings that normalise alike share an entry; nothing in them reaches another scope', async () => {
    await same('bob', '/api/v1/documents?limit=10&offset=0');
    await settlesToHit('bob', '/api/v1/documents?offset=0&limit=010');
    await same('bob', '/api/v1/documents?tags=zebra,quartz');
    await settlesToHit('bob', '/api/v1/documents?tags=zebra&tags=quartz');
    // Parameters the route does not know are not part of the answer, nor of the key: no way to name alice's scope.
    for (const crafted of [`?user=${ids.alice}`, `?principal=${ids.alice}&limit=10`, `?scope=public`]) {
      const res = await same('bob', `/api/v1/documents${crafted}`);
      if (res.status === 200) expect(res.body!.items.map((d: { id: string }) => d.id)).not.toContain(docs.private);
    }
    // Someone else's owner filter needs documents:admin: refused, and no entry is made.
    const refused = await same('bob', `/api/v1/documents?owner_id=${ids.alice}`);
    expect(refused.status).toBe(403);
    expect(await xCache('bob', `/api/v1/documents?owner_id=${ids.alice}`)).toBeNull();
    // Same search text, other callers: each their own results.
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => same(u, '/api/v1/search', search('zebra quartz'))));
    expect(hitIds(alice!).sort()).toEqual(Object.values(docs).sort());
    expect(hitIds(bob!).sort()).toEqual([docs.public, docs.shared].sort());
    expect(hitIds(carol!)).toEqual([docs.public]);
  });

  it('a document made private, unshared or deleted while cached is gone from the next read', async () => {
    await same('bob', `/api/v1/documents/${docs.public}`);
    await same('bob', '/api/v1/documents');
    await settlesToHit('bob', `/api/v1/documents/${docs.public}`);
    expect((await cached.api('PATCH', `/api/v1/documents/${docs.public}`, tokens.alice, { is_public: false })).status).toBe(200);
    expect((await same('bob', `/api/v1/documents/${docs.public}`)).status).toBe(404);
    expect((await same('carol', '/api/v1/documents')).body!.items).toEqual([]);

    await same('bob', `/api/v1/documents/${docs.shared}`);
    expect((await cached.api('PATCH', `/api/v1/documents/${docs.shared}`, tokens.alice, { shared_with_roles: [] })).status).toBe(200);
    expect((await same('bob', `/api/v1/documents/${docs.shared}`)).status).toBe(404);
    expect((await same('bob', '/api/v1/documents')).body!.items).toEqual([]);

    await same('alice', `/api/v1/documents/${docs.private}`);
    expect((await cached.api('DELETE', `/api/v1/documents/${docs.private}`, tokens.alice)).status).toBe(204);
    expect((await same('alice', `/api/v1/documents/${docs.private}`)).status).toBe(404);
    expect((await same('alice', '/api/v1/documents')).body!.items.map((d: { id: string }) => d.id)).not.toContain(docs.private);
  });

  it('a user losing a role loses what it showed them, cached or not', async () => {
    expect((await cached.api('PATCH', `/api/v1/documents/${docs.shared}`, tokens.alice, { shared_with_roles: ['ANALYST'] })).status).toBe(200);
    expect((await same('bob', `/api/v1/documents/${docs.shared}`)).status).toBe(200);
    await settlesToHit('bob', `/api/v1/documents/${docs.shared}`);
    expect((await cached.api('PUT', `/api/v1/users/${ids.bob}/roles`, tokens.admin, { roles: ['USER'] })).status).toBe(200);
    expect((await cached.api('GET', `/api/v1/documents/${docs.shared}`, tokens.bob)).status).toBe(401);
    await login('bob');
    expect((await same('bob', `/api/v1/documents/${docs.shared}`)).status).toBe(404);
    expect((await same('bob', '/api/v1/documents')).body!.items).toEqual([]);
  });

  it('search results follow an access change once the index holds it', async () => {
    expect((await cached.api('PATCH', `/api/v1/documents/${docs.public}`, tokens.alice, { is_public: true })).status).toBe(200);
    await waitFor(async () => hitIds(await plain.api('POST', '/api/v1/search', tokens.carol, search('papaya'))).includes(docs.public), { timeoutMs: 30_000, what: 'index shows the public document' });
    await waitFor(async () => hitIds(await cached.api('POST', '/api/v1/search', tokens.carol, search('papaya'))).includes(docs.public), { timeoutMs: 5_000, what: 'cached search shows it too' });
    await same('carol', '/api/v1/search', search('papaya'));
    expect((await cached.api('PATCH', `/api/v1/documents/${docs.public}`, tokens.alice, { is_public: false })).status).toBe(200);
    await waitFor(async () => !hitIds(await plain.api('POST', '/api/v1/search', tokens.carol, search('papaya'))).includes(docs.public), { timeoutMs: 30_000, what: 'index hides it' });
    // From here on the index holds the change: the cached gateway may lag only by the index's own event.
    await waitFor(async () => !hitIds(await cached.api('POST', '/api/v1/search', tokens.carol, search('papaya'))).includes(docs.public), { timeoutMs: 5_000, what: 'cached search hides it too' });
    await same('carol', '/api/v1/search', search('papaya'));
  });

  it('a tool changed behind the gateway’s back is invalidated by the tool-runner’s event; stats follow executions', async () => {
    const created = await cached.api('POST', '/api/v1/tools', tokens.alice, { name: 'echo', tool_type: 'python_script', description: 'v1', config: { code: 'import json,sys\nprint(json.dumps(json.load(sys.stdin)))\n' }, timeout_s: 30 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const toolId = created.body!.id as string;
    await same('alice', `/api/v1/tools/${toolId}`);
    await settlesToHit('alice', `/api/v1/tools/${toolId}`);
    // Another path to the tool-runner than this gateway (another replica, an operator's tool): only the event can tell the cache.
    const signer = createInternalTokenSigner({ key: signingKeyOf('gateway', parsePrivateKey(stack.keys.signingKeys.gateway!)) });
    const principal = { kind: 'user' as const, id: ids.alice!, name: 'alice', roles: ['USER'], permissions: ['tools:read', 'tools:write', 'tools:execute'] };
    const tools = createClient(ToolRunnerService, createConnectTransport({ baseUrl: stack.env.TOOL_RUNNER_URL!, httpVersion: '2' }));
    const headers = principalHeaders(await signer.sign(principal, 'tool-runner'));
    const current = (await tools.getTool({ id: toolId }, { headers })).tool!;
    await tools.updateTool({ id: toolId, expectedVersion: current.version, tool: mergeToolPatch(current, { description: 'v2' }) }, { headers });
    await waitFor(async () => (await cached.api('GET', `/api/v1/tools/${toolId}`, tokens.alice)).body?.description === 'v2', { timeoutMs: 5_000, what: 'cached tool shows v2' });
    await same('alice', `/api/v1/tools/${toolId}`);

    const stats = `/api/v1/tools/${toolId}/stats`;
    await same('alice', stats);
    const run = await cached.api('POST', `/api/v1/tools/${toolId}/execute`, tokens.alice, { input: { a: 1 }, wait: true });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    await waitFor(async () => JSON.stringify((await cached.api('GET', stats, tokens.alice)).body) === JSON.stringify((await plain.api('GET', stats, tokens.alice)).body), { timeoutMs: 5_000, what: 'stats after the execution' });
    expect((await same('bob', `/api/v1/tools/${toolId}`)).status).toBe(404);
  });

  it('secret metadata: cached per owner, fresh after a rotation; values never cached, never in Redis', async () => {
    const created = await cached.api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'api-key', value: canary });
    expect(created.status).toBe(201);
    const id = created.body!.id as string;
    await same('alice', `/api/v1/vault/secrets/${id}`);
    await settlesToHit('alice', `/api/v1/vault/secrets/${id}`);
    expect((await same('bob', `/api/v1/vault/secrets/${id}`)).status).toBe(404);
    expect((await cached.api('PUT', `/api/v1/vault/secrets/${id}/value`, tokens.alice, { value: `${canary}-2` })).status).toBe(200);
    expect((await same('alice', `/api/v1/vault/secrets/${id}`)).body!.current_version).toBe(2);
    const value = await raw(stack.gatewayUrl, 'GET', `/api/v1/vault/secrets/${id}/value`, tokens.alice);
    expect(value.status).toBe(200);
    expect(value.headers.get('x-cache')).toBeNull();
    const redis = new Redis(6379, '127.0.0.1');
    try {
      let leaked = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) if ((await redis.type(key)) === 'string' && ((await redis.get(key)) ?? '').includes(canary)) leaked++;
      } while (cursor !== '0');
      expect(leaked).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('If-None-Match: 304 while the list is unchanged, 200 with a new ETag after a write', async () => {
    const first = await raw(stack.gatewayUrl, 'GET', '/api/v1/tools', tokens.alice);
    const tag = first.headers.get('etag')!;
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    expect((await raw(stack.gatewayUrl, 'GET', '/api/v1/tools', tokens.alice, { 'if-none-match': tag })).status).toBe(304);
    // The uncached gateway computes the same validator for the same bytes.
    expect((await raw(oracleUrl, 'GET', '/api/v1/tools', tokens.alice, { 'if-none-match': tag })).status).toBe(304);
    expect((await cached.api('POST', '/api/v1/tools', tokens.alice, { name: 'second', tool_type: 'python_script', config: { code: 'print(1)' }, timeout_s: 30 })).status).toBe(201);
    const after = await raw(stack.gatewayUrl, 'GET', '/api/v1/tools', tokens.alice, { 'if-none-match': tag });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(tag);
  });

  it('cache Redis cut mid-run: answers stay right, writes made meanwhile are seen after it is back', async () => {
    const path = `/api/v1/documents/${docs.shared}`;
    await same('alice', path);
    await settlesToHit('alice', path);
    await proxy.cut();
    try {
      expect((await cached.api('PATCH', path, tokens.alice, { title: 'renamed during the outage' })).status).toBe(200);
      const during = await same('alice', path);
      expect(during.body!.title).toBe('renamed during the outage');
      expect(await xCache('alice', path)).toBe('bypass');
      await same('carol', '/api/v1/documents');
    } finally {
      await proxy.restore();
    }
    await waitFor(async () => ['hit', 'miss'].includes((await xCache('alice', '/api/v1/documents')) ?? ''), { timeoutMs: 20_000, what: 'cache in use again' });
    // The entry cached before the outage is not served: the epoch moved when Redis came back.
    expect((await same('alice', path)).body!.title).toBe('renamed during the outage');
    await settlesToHit('alice', path);
  });

  it('reports its figures to admins only, and on /metrics', async () => {
    await same('admin', '/api/v1/roles');
    await settlesToHit('admin', '/api/v1/roles');
    // Replicas add their figures to Redis every second.
    await new Promise((r) => setTimeout(r, 1_500));
    const stats = await cached.api('GET', '/api/v1/cache/stats', tokens.admin);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ enabled: true, redis_up: true, scope: 'all_replicas' });
    const families = stats.body!.families;
    expect(families.documents.hits).toBeGreaterThan(0);
    expect(families.documents.stale_avoided).toBeGreaterThan(0);
    expect(families.documents.hit_ratio).toBeGreaterThan(0);
    expect(families.documents.errors + families.documents.bypassed).toBeGreaterThan(0);
    expect(families.roles.hits).toBeGreaterThan(0);
    expect(stats.body!.redis.keys).toBeGreaterThan(0);
    expect((await cached.api('GET', '/api/v1/cache/stats', tokens.bob)).status).toBe(403);
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(/csda_gateway_cache_requests_total\{family="documents",result="hit"[^}]*\} [1-9]/);
  });
});
