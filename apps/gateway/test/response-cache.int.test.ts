import { randomUUID } from 'node:crypto';
import type { Principal } from '@csda/auth';
import { createRedis, type Redis } from '@csda/service-kit';
import { waitFor } from '@csda/testing';
import { fastify, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { create, toBinary } from '@bufbuild/protobuf';
import { ResourceChangedSchema } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import { EVENT_TYPE_HEADER, PermanentMessageError, Subjects, type JsMsg } from '@csda/service-kit';
import { createCacheEventsHandler } from '../src/cache/cache-events.consumer.ts';
import { DEFAULT_TTL_S, familyGen, itemGen, userGen } from '../src/cache/families.ts';
import { createResponseCache, type ResponseCache } from '../src/cache/response-cache.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

/**
 * The response cache on a real Redis, behind a relay the tests can cut: hits,
 * scopes, generation bumps (and the stale reads they prevent), one backend call
 * for concurrent misses, 304s, and an outage mid-run.
 */
const principals: Record<string, Principal> = {
  alice: { kind: 'user', id: 'u-alice', name: 'alice', roles: ['USER'], permissions: ['documents:read'] },
  bob: { kind: 'user', id: 'u-bob', name: 'bob', roles: ['USER'], permissions: ['documents:read'] },
  bobAnalyst: { kind: 'user', id: 'u-bob', name: 'bob', roles: ['USER', 'ANALYST'], permissions: ['documents:read'] },
};

describe('response cache (real Redis)', () => {
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let redis: Redis;
  let app: FastifyInstance;
  let cache: ResponseCache;
  const warnings: string[] = [];
  const infos: string[] = [];
  /** What the "backend" answers: per caller and item, changed by tests; every call counted. */
  let version = 1;
  let calls: string[] = [];
  let delayMs = 0;
  let big = false;

  beforeAll(async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
    redis = createRedis(proxy.url, `t${randomUUID().slice(0, 8)}:`, { warn: () => undefined });
    await redis.connect();
    cache = createResponseCache({
      redis,
      logger: { warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)), info: (_o: unknown, msg?: string) => void infos.push(String(msg)) } as never,
      enabled: true,
      ttlS: DEFAULT_TTL_S,
      maxEntryBytes: 4_096,
      redisTimeoutMs: 200,
      registry: new Registry(),
    });
    app = fastify().withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.decorateRequest('principal', undefined);
    app.addHook('preHandler', async (request) => {
      request.principal = principals[String(request.headers['x-user'])];
    });
    app.get(
      '/items/:id',
      { schema: { params: z.object({ id: z.string() }), querystring: z.object({ limit: z.coerce.number().int().default(10) }), response: { 200: z.object({ id: z.string(), for: z.string(), version: z.number(), limit: z.number(), pad: z.string() }) } } },
      cache.handler({ family: 'documents', generations: (request) => [itemGen('documents', (request.params as { id: string }).id)] }, async (request) => {
        const who = `${request.principal!.id}/${request.principal!.roles.join('+')}`;
        calls.push(who);
        // Read first, answer later: a backend whose read happened before a concurrent write.
        const read = version;
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        const { params, query } = request as unknown as { params: { id: string }; query: { limit: number } };
        return { id: params.id, for: who, version: read, limit: query.limit, pad: big ? 'x'.repeat(8_000) : '', ignored: 'dropped by the schema' };
      }),
    );
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    await proxy?.close();
  });
  beforeEach(() => {
    calls = [];
    delayMs = 0;
    big = false;
  });
  afterEach(async () => {
    version++;
  });

  const get = (user: string, path: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: path, headers: { 'x-user': user, ...headers } });

  it('answers a repeat from Redis, byte for byte with the same strong ETag, as a private answer', async () => {
    const first = await get('alice', '/items/a1');
    const second = await get('alice', '/items/a1?limit=10');
    expect(first.statusCode).toBe(200);
    expect(second.body).toBe(first.body);
    expect(first.headers['x-cache']).toBe('miss');
    expect(second.headers['x-cache']).toBe('hit');
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(first.headers['cache-control']).toBe('private, no-cache');
    expect(first.headers.vary).toBe('authorization');
    expect(JSON.parse(second.body)).not.toHaveProperty('ignored');
    expect(calls).toEqual(['u-alice/USER']);
  });

  it('never gives one caller another’s entry: other users, other roles of the same user', async () => {
    const a = await get('alice', '/items/shared');
    const b = await get('bob', '/items/shared');
    const c = await get('bobAnalyst', '/items/shared');
    expect(JSON.parse(a.body).for).toBe('u-alice/USER');
    expect(JSON.parse(b.body).for).toBe('u-bob/USER');
    expect(JSON.parse(c.body).for).toBe('u-bob/USER+ANALYST');
    expect([a, b, c].map((r) => r.headers['x-cache'])).toEqual(['miss', 'miss', 'miss']);
    expect((await get('bob', '/items/shared')).headers['x-cache']).toBe('hit');
  });

  it('a bump makes entries unreachable and counts the stale read it prevented; other items stay cached', async () => {
    await get('alice', '/items/b1');
    await get('alice', '/items/b2');
    const before = cache.localFigures().documents.stale_avoided;
    version += 100;
    await cache.bump([itemGen('documents', 'b1')], 'write');
    const fresh = await get('alice', '/items/b1');
    expect(fresh.headers['x-cache']).toBe('miss');
    expect(JSON.parse(fresh.body).version).toBe(version);
    expect(cache.localFigures().documents.stale_avoided).toBe(before + 1);
    expect((await get('alice', '/items/b2')).headers['x-cache']).toBe('hit');
    // The caller's own scope counter reaches every entry of theirs, only theirs.
    await get('bob', '/items/b2');
    await cache.bump([userGen('u-alice')], 'event');
    expect((await get('alice', '/items/b2')).headers['x-cache']).toBe('miss');
    expect((await get('bob', '/items/b2')).headers['x-cache']).toBe('hit');
  });

  it('an answer loaded across a bump is stored under the old generations and never read after it', async () => {
    delayMs = 300;
    const slow = get('alice', '/items/race');
    await new Promise((r) => setTimeout(r, 100));
    const loadedVersion = version;
    version += 100;
    await cache.bump([itemGen('documents', 'race')], 'write');
    expect(JSON.parse((await slow).body).version).toBe(loadedVersion);
    delayMs = 0;
    const after = await get('alice', '/items/race');
    expect(JSON.parse(after.body).version).toBe(version);
  });

  it('concurrent misses of one key make one backend call', async () => {
    delayMs = 200;
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('alice', '/items/herd')));
    expect(calls).toEqual(['u-alice/USER']);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(cache.localFigures().documents.coalesced).toBeGreaterThanOrEqual(19);
  });

  it('If-None-Match: 304 with the ETag on a hit and on a miss; a changed answer is 200 with a new tag', async () => {
    const first = await get('alice', '/items/etag');
    const tag = first.headers.etag as string;
    const hit = await get('alice', '/items/etag', { 'if-none-match': tag });
    expect(hit.statusCode).toBe(304);
    expect(hit.body).toBe('');
    expect(hit.headers.etag).toBe(tag);
    await cache.bump([itemGen('documents', 'etag')], 'write');
    const unchanged = await get('alice', '/items/etag', { 'if-none-match': `W/${tag}` });
    // Same version (afterEach moves it): a miss that loads the same bytes is still 304.
    expect(unchanged.statusCode).toBe(304);
    version++;
    await cache.bump([itemGen('documents', 'etag')], 'write');
    const changed = await get('alice', '/items/etag', { 'if-none-match': tag });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(tag);
  });

  it('serves answers above the size limit without storing them', async () => {
    big = true;
    await get('alice', '/items/big');
    await get('alice', '/items/big');
    expect(calls).toHaveLength(2);
    expect(cache.localFigures().documents.too_large).toBeGreaterThanOrEqual(2);
  });

  it('Redis cut mid-run: answers stay correct from the backend, logged once; back, entries from before are not read', async () => {
    await get('alice', '/items/outage');
    expect((await get('alice', '/items/outage')).headers['x-cache']).toBe('hit');
    const warned = warnings.length;
    await proxy.cut();
    version += 100;
    // A write during the outage cannot bump: the cache would be stale if it trusted Redis again blindly.
    await expect(cache.bump([itemGen('documents', 'outage')], 'write')).rejects.toThrow();
    for (let i = 0; i < 5; i++) {
      const res = await get('alice', '/items/outage');
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body).version).toBe(version);
      expect(res.headers['x-cache']).toBe('bypass');
      expect(res.headers.etag).toBeDefined();
    }
    expect(warnings.length).toBe(warned + 1);
    expect(warnings.at(-1)).toMatch(/cache bypassed: redis unavailable/);
    const figures = cache.localFigures().documents;
    expect(figures.errors + figures.bypassed).toBeGreaterThanOrEqual(5);

    await proxy.restore();
    await waitFor(async () => (await get('alice', '/items/outage')).headers['x-cache'] !== 'bypass', { timeoutMs: 15_000, what: 'cache in use again' });
    expect(infos.at(-1)).toMatch(/epoch bumped/);
    const after = await get('alice', '/items/outage');
    expect(JSON.parse(after.body).version).toBe(version);
    expect(after.headers['x-cache']).toBe('hit');
  });

  it('change events bump what they name; a redelivered event is harmless; a forged or broken one bumps nothing', async () => {
    const subjects = new Subjects('');
    const handler = createCacheEventsHandler({ cache, subjects });
    const log = { warn: () => undefined, debug: () => undefined } as never;
    const message = (service: string, resourceType: string, resourceId: string, data?: Uint8Array) =>
      ({
        subject: `csda.events.${service}.${resourceType}.changed`,
        headers: { get: (h: string) => (h === EVENT_TYPE_HEADER ? ResourceChangedSchema.typeName : '') },
        data: data ?? toBinary(ResourceChangedSchema, create(ResourceChangedSchema, { eventId: 'e', resourceType, resourceId, change: 'status' })),
      }) as unknown as JsMsg;
    await get('alice', '/items/ev1');
    await get('alice', '/items/ev2');
    await handler(message('tool-runner', 'document', 'ev1'), log);
    expect((await get('alice', '/items/ev1')).headers['x-cache']).toBe('hit');
    const event = message('document-ingest', 'document', 'ev1');
    await handler(event, log);
    expect((await get('alice', '/items/ev1')).headers['x-cache']).toBe('miss');
    await handler(event, log);
    expect((await get('alice', '/items/ev1')).headers['x-cache']).toBe('miss');
    expect((await get('alice', '/items/ev1')).headers['x-cache']).toBe('hit');
    expect((await get('alice', '/items/ev2')).headers['x-cache']).toBe('hit');
    await expect(handler(message('document-ingest', 'document', 'ev2', new Uint8Array([0xff, 0xff, 0xff])), log)).rejects.toBeInstanceOf(PermanentMessageError);
    expect((await get('alice', '/items/ev2')).headers['x-cache']).toBe('hit');
  });

  it('a slow Redis answer skips the cache for that request without costing the entries (no epoch bump)', async () => {
    await get('alice', '/items/slow');
    expect((await get('alice', '/items/slow')).headers['x-cache']).toBe('hit');
    proxy.slow(600);
    const slow = await get('alice', '/items/slow');
    proxy.slow(0);
    expect(slow.statusCode).toBe(200);
    expect(slow.headers['x-cache']).toBe('bypass');
    await new Promise((r) => setTimeout(r, 1_700));
    expect((await get('alice', '/items/slow')).headers['x-cache']).toBe('hit');
  });

  it('flushes figures to Redis for the stats of every replica', async () => {
    await get('alice', '/items/stats');
    await get('alice', '/items/stats');
    await cache.flushFigures();
    const shared = await cache.sharedFigures();
    expect(shared?.families.documents.hits).toBeGreaterThanOrEqual(1);
    expect(shared?.families.documents.misses).toBeGreaterThanOrEqual(1);
    expect(shared?.redis.keys).toBeGreaterThan(0);
    expect(shared?.redis.used_memory_bytes).toBeGreaterThan(0);
    // The family's list counter is not the item's: bumping it leaves item entries alone.
    await cache.bump([familyGen('documents')], 'write');
    expect((await get('alice', '/items/stats')).headers['x-cache']).toBe('hit');
  });
});
