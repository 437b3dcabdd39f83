import type { Redis } from '@csda/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ifNoneMatchMatches, strongEtag } from './etag.ts';
import { CACHE_FAMILIES, epoch, generationKey, userGen, type CacheFamily, type Generation } from './families.ts';
import { requestHash, scopeHash } from './keys.ts';

export interface ResponseCacheOptions {
  readonly redis: Redis;
  readonly logger: Pick<Logger, 'warn' | 'info'>;
  /** CACHE_ENABLED: off = every answer from the backend (still with ETag and 304). */
  readonly enabled: boolean;
  readonly ttlS: Readonly<Record<CacheFamily, number>>;
  /** Answers larger than this are served but not stored. */
  readonly maxEntryBytes: number;
  /** A Redis call slower than this counts as an outage: the request is answered without the cache. */
  readonly redisTimeoutMs: number;
  readonly registry?: Registry;
  /** How often this replica adds its counters to the shared figures in Redis; default 1 s. */
  readonly statsFlushMs?: number;
}

/** How one cacheable route's answers are keyed. */
export interface CacheRouteSpec {
  readonly family: CacheFamily;
  /** `user` (default): the caller's whole visibility scope is in the key; `public`: only the route's permission decides (checked before). */
  readonly scope?: 'user' | 'public';
  /** Counters the answer depends on besides the epoch and the caller's own: default the family's (lists, search). */
  readonly generations?: (request: FastifyRequest) => readonly Generation[];
}

export interface FamilyFigures {
  hits: number;
  misses: number;
  /** Misses where an entry for the same request and scope existed under older counters: a stale read a bump prevented. */
  stale_avoided: number;
  /** Redis failed or timed out: answered without the cache. */
  errors: number;
  /** Answered without the cache because Redis was known down (or the cache is off). */
  bypassed: number;
  /** Concurrent misses of one key in one replica that waited for the first one's backend call. */
  coalesced: number;
  stored: number;
  too_large: number;
}

type Result = 'hit' | 'miss' | 'stale' | 'bypass' | 'error';

const FIGURES: readonly (keyof FamilyFigures)[] = ['hits', 'misses', 'stale_avoided', 'errors', 'bypassed', 'coalesced', 'stored', 'too_large'];
const zero = (): FamilyFigures => ({ hits: 0, misses: 0, stale_avoided: 0, errors: 0, bypassed: 0, coalesced: 0, stored: 0, too_large: 0 });
/** While Redis is down, one request a second tries it again; the others skip the cache at once. */
const RETRY_DOWN_MS = 1_000;
/** A counter outlives every entry keyed on it: when it expires (and restarts at 0), nothing stored under its old values is left. */
const GENERATION_TTL_S = 86_400;

interface Answer {
  readonly body: string;
  readonly etag: string;
}

class RedisTimeout extends Error {}

/**
 * The gateway's response cache (DESIGN.md, "Gateway cache"). An entry's key is
 * `cache:e:<family>:<request>:<scope>:<generations>`: the normalised request,
 * the caller's visibility scope and the current value of every generation
 * counter the answer depends on. Invalidation is an INCR of a counter (O(1), no
 * key scans): the old entries are never read again and expire. A pointer per
 * request and scope (`cache:p:…`) remembers the generations of the last stored
 * entry, so a miss caused by a bump is counted as a stale read avoided.
 *
 * Redis trouble never fails a request: the answer comes from the backend and
 * the outage is logged once. When Redis answers again, this replica first bumps
 * the epoch (it may have missed bumps meanwhile), then uses the cache again.
 */
export function createResponseCache(options: ResponseCacheOptions) {
  const { redis, logger } = options;
  const figures = new Map<CacheFamily, FamilyFigures>(CACHE_FAMILIES.map((f) => [f, zero()]));
  const unflushed = new Map<CacheFamily, FamilyFigures>(CACHE_FAMILIES.map((f) => [f, zero()]));
  const inflight = new Map<string, Promise<Answer>>();
  let down = false;
  let lastTry = 0;
  // Set when this replica may have missed a bump: one of its own failed, or the connection dropped
  // (Redis may have restarted from an older snapshot). Cleared by an epoch bump before the next use.
  let needsEpoch = false;
  redis.on('close', () => {
    needsEpoch = true;
  });
  const maxTtlS = Math.max(...Object.values(options.ttlS));

  const requests = options.registry
    ? new Counter({ name: 'csda_gateway_cache_requests_total', help: 'Cacheable requests by family and result (hit, miss, stale: a miss a generation bump caused, bypass, error)', labelNames: ['family', 'result'], registers: [options.registry] })
    : undefined;
  const coalescedMetric = options.registry ? new Counter({ name: 'csda_gateway_cache_coalesced_total', help: 'Misses that waited for a concurrent backend call of the same key', labelNames: ['family'], registers: [options.registry] }) : undefined;
  const bumpsMetric = options.registry ? new Counter({ name: 'csda_gateway_cache_bumps_total', help: 'Generation counters bumped, by source (write: the gateway’s own, event: a service’s change event)', labelNames: ['source'], registers: [options.registry] }) : undefined;
  if (options.registry) {
    new Gauge({ name: 'csda_gateway_cache_redis_up', help: '1 while the cache reaches Redis, 0 while it is bypassed', registers: [options.registry], collect() { this.set(down ? 0 : 1); } });
  }

  const count = (family: CacheFamily, figure: keyof FamilyFigures, n = 1) => {
    figures.get(family)![figure] += n;
    unflushed.get(family)![figure] += n;
  };
  const record = (family: CacheFamily, result: Result) => {
    requests?.inc({ family, result });
    if (result === 'hit') count(family, 'hits');
    else if (result === 'bypass') count(family, 'bypassed');
    else if (result === 'error') count(family, 'errors');
    else {
      count(family, 'misses');
      if (result === 'stale') count(family, 'stale_avoided');
    }
  };

  const withTimeout = async <T>(op: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      // The rejection waits one turn of the loop: a reply already read from the socket (a busy event loop
      // runs timers before I/O) wins over the timer, so only Redis itself being slow counts.
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => setImmediate(() => reject(new RedisTimeout(`redis did not answer within ${options.redisTimeoutMs} ms`))), options.redisTimeoutMs)));
      return await Promise.race([op, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const failed = (err: unknown) => {
    if (!down) logger.warn({ dependency: 'redis', reason: err instanceof Error ? err.message : String(err) }, 'cache bypassed: redis unavailable (answers come from the services until it is back)');
    down = true;
    lastTry = Date.now();
  };

  /**
   * False: skip the cache for this request. While Redis is down one request a
   * second tries it again. When this replica may have missed a bump, the epoch
   * is bumped before the next use (every entry from before is unreachable); a
   * slow answer alone does not need that.
   */
  const usable = async (): Promise<boolean> => {
    if (down && Date.now() - lastTry < RETRY_DOWN_MS) return false;
    if (!needsEpoch) {
      if (down) logger.info({ dependency: 'redis' }, 'cache in use again');
      down = false;
      return true;
    }
    lastTry = Date.now();
    try {
      await withTimeout(redis.multi().incr(generationKey(epoch)).expire(generationKey(epoch), GENERATION_TTL_S).exec());
      needsEpoch = false;
      if (down) logger.info({ dependency: 'redis' }, 'cache in use again (epoch bumped: entries from before the outage are not read)');
      down = false;
      return true;
    } catch (err) {
      failed(err);
      return false;
    }
  };

  /** Loads once per key in this replica: concurrent misses wait for the first call. */
  const loadOnce = async (family: CacheFamily, key: string, load: () => Promise<Answer>): Promise<Answer> => {
    const running = inflight.get(key);
    if (running) {
      count(family, 'coalesced');
      coalescedMetric?.inc({ family });
      return running;
    }
    const promise = load().finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  };

  const store = async (family: CacheFamily, key: string, pointer: string, generations: string, answer: Answer) => {
    const value = `${answer.etag}\n${answer.body}`;
    if (Buffer.byteLength(value) > options.maxEntryBytes) return count(family, 'too_large');
    const ttlMs = options.ttlS[family] * 1_000;
    try {
      await withTimeout(redis.multi().set(key, value, 'PX', ttlMs).set(pointer, generations, 'PX', ttlMs).exec());
      count(family, 'stored');
    } catch (err) {
      count(family, 'errors');
      failed(err);
    }
  };

  const send = (request: FastifyRequest, reply: FastifyReply, answer: Answer, result: Result | 'off') => {
    void reply.header('etag', answer.etag).header('cache-control', 'private, no-cache').header('vary', 'authorization').header('x-cache', result === 'hit' ? 'hit' : result === 'bypass' || result === 'error' || result === 'off' ? 'bypass' : 'miss');
    if (ifNoneMatchMatches(request.headers['if-none-match'], answer.etag)) void reply.code(304).send();
    else void reply.type('application/json; charset=utf-8').send(answer.body);
  };

  const answerOf = async (reply: FastifyReply, load: () => Promise<unknown>): Promise<Answer> => {
    const serialized: unknown = reply.serialize(await load());
    const body = typeof serialized === 'string' ? serialized : Buffer.from(serialized as Uint8Array).toString('utf8');
    return { body, etag: strongEtag(body) };
  };

  return {
    /**
     * A route handler answering from the cache when it can; `load` computes the
     * answer from the backend as the caller (only 200 answers are stored).
     */
    handler<Req extends FastifyRequest>(spec: CacheRouteSpec, load: (request: Req, reply: FastifyReply) => Promise<unknown>) {
      const scope = spec.scope ?? 'user';
      return async (request: Req, reply: FastifyReply): Promise<void> => {
        const { family } = spec;
        const fromBackend = () => answerOf(reply, () => load(request, reply));
        if (!options.enabled) return send(request, reply, await fromBackend(), 'off');
        if (!(await usable())) {
          record(family, 'bypass');
          return send(request, reply, await fromBackend(), 'bypass');
        }
        const generations = [epoch, ...(scope === 'user' ? [userGen(request.principal!.id)] : []), ...(spec.generations?.(request) ?? [{ kind: 'family', family } as const])];
        const base = `${family}:${requestHash({ method: request.method, route: request.routeOptions.url ?? request.url, params: request.params, query: request.query, body: request.method === 'GET' ? undefined : request.body })}:${scopeHash(request.principal, scope)}`;
        const pointer = `cache:p:${base}`;
        let values: (string | null)[];
        try {
          values = await withTimeout(redis.mget(...generations.map(generationKey), pointer));
        } catch (err) {
          record(family, 'error');
          failed(err);
          return send(request, reply, await fromBackend(), 'error');
        }
        const last = values.pop();
        const current = values.map((v) => v ?? '0').join('.');
        const key = `cache:e:${base}:${current}`;
        if (last === current) {
          try {
            const hit = await withTimeout(redis.get(key));
            if (hit !== null) {
              const split = hit.indexOf('\n');
              record(family, 'hit');
              return send(request, reply, { etag: hit.slice(0, split), body: hit.slice(split + 1) }, 'hit');
            }
          } catch (err) {
            record(family, 'error');
            failed(err);
            return send(request, reply, await fromBackend(), 'error');
          }
        }
        const result: Result = last !== null && last !== undefined && last !== current ? 'stale' : 'miss';
        record(family, result);
        const answer = await loadOnce(family, key, async () => {
          const loaded = await fromBackend();
          await store(family, key, pointer, current, loaded);
          return loaded;
        });
        return send(request, reply, answer, result);
      };
    },

    /**
     * Makes every entry keyed on these counters unreachable. Throws when Redis
     * is down (the caller decides: a write's own bump logs, an event is retried);
     * this replica then bumps the epoch before it uses the cache again.
     */
    async bump(generations: readonly Generation[], source: 'write' | 'event'): Promise<void> {
      if (generations.length === 0) return;
      const ttl = Math.max(GENERATION_TTL_S, maxTtlS * 2);
      const multi = redis.multi();
      for (const gen of generations) multi.incr(generationKey(gen)).expire(generationKey(gen), ttl);
      try {
        const results = await withTimeout(multi.exec());
        const error = results?.find(([err]) => err)?.[0];
        if (error) throw error;
        bumpsMetric?.inc({ source }, generations.length);
      } catch (err) {
        needsEpoch = true;
        failed(err);
        throw err;
      }
    },

    /** This replica's figures since start (the stats endpoint adds every replica's from Redis). */
    localFigures(): Record<CacheFamily, FamilyFigures> {
      return Object.fromEntries([...figures].map(([f, v]) => [f, { ...v }])) as Record<CacheFamily, FamilyFigures>;
    },

    /** Adds this replica's counters since the last flush to the shared `cache:stats:<family>` hashes. */
    async flushFigures(): Promise<void> {
      if (down) return;
      const pending = [...unflushed].filter(([, v]) => FIGURES.some((f) => v[f] > 0));
      if (pending.length === 0) return;
      const snapshot = pending.map(([family, v]) => [family, { ...v }] as const);
      for (const [family] of pending) unflushed.set(family, zero());
      const multi = redis.multi();
      for (const [family, v] of snapshot) for (const f of FIGURES) if (v[f] > 0) multi.hincrby(`cache:stats:${family}`, f, v[f]);
      try {
        await withTimeout(multi.exec());
      } catch (err) {
        // Not counted twice and not lost: they wait for the next flush.
        for (const [family, v] of snapshot) for (const f of FIGURES) unflushed.get(family)![f] += v[f];
        failed(err);
      }
    },

    /** Every replica's figures as flushed to Redis, plus this replica's unflushed ones; Redis keys and memory. */
    async sharedFigures(): Promise<{ families: Record<CacheFamily, FamilyFigures>; redis: { keys: number; used_memory_bytes: number } } | undefined> {
      try {
        const multi = redis.multi();
        for (const family of CACHE_FAMILIES) multi.hgetall(`cache:stats:${family}`);
        multi.dbsize().info('memory');
        const results = (await withTimeout(multi.exec())) ?? [];
        const families = {} as Record<CacheFamily, FamilyFigures>;
        CACHE_FAMILIES.forEach((family, i) => {
          const stored = (results[i]?.[1] ?? {}) as Record<string, string>;
          const local = unflushed.get(family)!;
          families[family] = Object.fromEntries(FIGURES.map((f) => [f, Number(stored[f] ?? 0) + local[f]])) as unknown as FamilyFigures;
        });
        const keys = Number(results[CACHE_FAMILIES.length]?.[1] ?? 0);
        const memory = String(results[CACHE_FAMILIES.length + 1]?.[1] ?? '');
        return { families, redis: { keys, used_memory_bytes: Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0) } };
      } catch (err) {
        failed(err);
        return undefined;
      }
    },

    get enabled() {
      return options.enabled;
    },
    get redisUp() {
      return !down;
    },
    /** Starts the periodic flush of figures; returns its stop. */
    startFlushing(): () => Promise<void> {
      const timer = setInterval(() => void this.flushFigures(), options.statsFlushMs ?? 1_000);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await this.flushFigures();
      };
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;

/** How a route plugin wraps a cacheable handler: the cache's `handler`, or (no cache configured) the handler itself. */
export type Cached = <Req extends FastifyRequest>(spec: CacheRouteSpec, load: (request: Req, reply: FastifyReply) => Promise<unknown>) => (request: Req, reply: FastifyReply) => Promise<void>;
export const uncached: Cached = (_spec, load) => async (request, reply) => {
  void reply.send(await load(request, reply));
};
