/**
 * What the gateway caches (DESIGN.md, "Gateway cache"): one family per kind of
 * answer, each with its own TTL (CACHE_TTL_<FAMILY>_S). Nothing else is cached:
 * never a secret value, never a write, never an execution.
 */
export const CACHE_FAMILIES = ['documents', 'tools', 'tool_stats', 'secrets', 'roles', 'search'] as const;
export type CacheFamily = (typeof CACHE_FAMILIES)[number];

/** Default TTLs in seconds; invalidation is by generation bumps, the TTL only bounds what a missed bump could leave. */
export const DEFAULT_TTL_S: Readonly<Record<CacheFamily, number>> = {
  documents: 30,
  tools: 60,
  // Execution figures change whenever an execution ends: `executed` events bump them, the TTL is short anyway.
  tool_stats: 10,
  secrets: 60,
  roles: 300,
  search: 60,
};

/**
 * A generation counter: cached keys embed the current value of every counter
 * their answer depends on, so one INCR makes all those entries unreachable.
 * - `epoch`: everything (a replica that may have missed bumps: its own failed, or its Redis connection dropped)
 * - `family`: a family's lists (and every search result)
 * - `item`: one resource's detail answers (`documents`, `tools`, `tool_stats`, `secrets`)
 * - `user`: everything a user's answers depend on (their roles changed, deactivated)
 */
export type Generation = { readonly kind: 'epoch' } | { readonly kind: 'family'; readonly family: CacheFamily } | { readonly kind: 'item'; readonly family: CacheFamily; readonly id: string } | { readonly kind: 'user'; readonly id: string };

export const epoch: Generation = { kind: 'epoch' };
export const familyGen = (family: CacheFamily): Generation => ({ kind: 'family', family });
export const itemGen = (family: CacheFamily, id: string): Generation => ({ kind: 'item', family, id });
export const userGen = (id: string): Generation => ({ kind: 'user', id });

/** The Redis key of a counter (under the client's key prefix). Ids are UUIDs or validated ids; never free text. */
export function generationKey(gen: Generation): string {
  switch (gen.kind) {
    case 'epoch':
      return 'cache:gen:epoch';
    case 'family':
      return `cache:gen:f:${gen.family}`;
    case 'item':
      return `cache:gen:i:${gen.family}:${gen.id}`;
    case 'user':
      return `cache:gen:u:${gen.id}`;
  }
}
