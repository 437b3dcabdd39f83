import type { Permission } from '@csda/auth';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { bearerAuth, protectedErrorResponses } from '../http/schemas.ts';
import { CACHE_FAMILIES, type CacheFamily } from './families.ts';
import type { FamilyFigures, ResponseCache } from './response-cache.ts';

export interface CacheRouteDeps {
  readonly cache: ResponseCache;
  readonly ttlS: Readonly<Record<CacheFamily, number>>;
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
}

const count = z.number().int();
const familySchema = z.object({
  ttl_s: count,
  hits: count,
  misses: count,
  hit_ratio: z.number().nullable().describe('hits / (hits + misses); null before the first lookup'),
  stale_avoided: count.describe('misses where an entry existed under older generation counters: a stale read a bump prevented'),
  errors: count.describe('Redis failed or timed out mid-request: answered from the service'),
  bypassed: count.describe('answered from the service while Redis was known down'),
  coalesced: count.describe('concurrent misses that waited for the first one’s backend call'),
  stored: count,
  too_large: count.describe('answers above CACHE_MAX_ENTRY_BYTES: served, not stored'),
});
const statsSchema = z
  .object({
    enabled: z.boolean(),
    redis_up: z.boolean(),
    scope: z.enum(['all_replicas', 'this_replica']).describe('all_replicas: every gateway replica’s figures as flushed to Redis (each second); this_replica when Redis cannot be read'),
    families: z.record(z.enum(CACHE_FAMILIES), familySchema),
    redis: z.object({ keys: count.describe('keys in the Redis database (rate limits and sessions included)'), used_memory_bytes: count }).nullable(),
  })
  .meta({ id: 'CacheStats' });

const withRatio = (ttlS: number, f: FamilyFigures) => ({ ttl_s: ttlS, ...f, hit_ratio: f.hits + f.misses > 0 ? f.hits / (f.hits + f.misses) : null });

/** `GET /api/v1/cache/stats` (`system:read`): per family hits, misses, ratio, stale reads avoided, errors; Redis keys and memory. */
export function cacheRoutes(deps: CacheRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/stats',
      {
        preHandler: deps.authorize('system:read'),
        schema: {
          tags: ['system'],
          summary: 'Gateway cache figures per family (documents, tools, tool_stats, secrets, roles, search), all replicas; the same as csda_gateway_cache_* on /metrics',
          security: bearerAuth,
          response: { 200: statsSchema, ...protectedErrorResponses },
        },
      },
      async (_request, reply) => {
        void reply.header('cache-control', 'no-store');
        const shared = await deps.cache.sharedFigures();
        const figures = shared?.families ?? deps.cache.localFigures();
        return {
          enabled: deps.cache.enabled,
          redis_up: deps.cache.redisUp,
          scope: shared ? ('all_replicas' as const) : ('this_replica' as const),
          families: Object.fromEntries(CACHE_FAMILIES.map((f) => [f, withRatio(deps.ttlS[f], figures[f])])) as Record<CacheFamily, ReturnType<typeof withRatio>>,
          redis: shared?.redis ?? null,
        };
      },
    );
  };
}
