import { redisOp, type Redis } from '@csda/service-kit';

/**
 * Revocation of access tokens without a database on the hot path. Two kinds
 * of entries, each kept as long as an access token can live:
 * - `deny:user:<id>` = ms time: tokens of that user issued before it are dead
 *   (deactivation, deletion, role or password change);
 * - `deny:sid:<family>`: tokens of that login session are dead (logout, reuse).
 * Lookups go through a small in-process cache with a few seconds' TTL, so
 * another instance's revocation takes effect within that delay; this
 * instance's own revocations take effect at once.
 */
export interface Revocation {
  revokeUser(userId: string, atMs?: number): Promise<void>;
  revokeSessions(sessionIds: readonly string[]): Promise<void>;
  /** Throws EXTERNAL_SERVICE_ERROR when Redis can't answer: authenticated requests fail closed. */
  isRevoked(token: { userId: string; sessionId: string; issuedAtMs: number }): Promise<boolean>;
}

export interface RevocationOptions {
  /** How long an entry must outlive its revocation: the access-token TTL. */
  readonly accessTokenTtlSeconds: number;
  /** In-process cache TTL; 0 asks Redis on every request. */
  readonly cacheMs: number;
  readonly maxCacheEntries?: number;
  readonly now?: () => number;
}

interface Cached<T> {
  readonly value: T;
  readonly until: number;
}

const userKey = (id: string) => `deny:user:${id}`;
const sessionKey = (id: string) => `deny:sid:${id}`;
// Clock skew between instances must not let a token outlive its entry.
const MARGIN_MS = 60_000;

// Sets KEYS[1] to max(current, ARGV[1]) with expiry ARGV[2] ms, atomically:
// two revocations racing (two admins, two instances) never move it back.
// Returns the value kept. Values are compared as numbers, stored as given.
const REVOKE_USER_SCRIPT = `
local kept = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) and tonumber(current) > tonumber(kept) then
  kept = current
end
redis.call('SET', KEYS[1], kept, 'PX', ARGV[2])
return kept
`;

type RedisWithRevoke = Redis & { revokeUserAt(key: string, atMs: string, ttlMs: number): Promise<string> };

export function createRevocation(redis: Redis, options: RevocationOptions): Revocation {
  if (!('revokeUserAt' in redis)) redis.defineCommand('revokeUserAt', { numberOfKeys: 1, lua: REVOKE_USER_SCRIPT });
  const client = redis as RedisWithRevoke;
  const now = options.now ?? Date.now;
  const ttlMs = options.accessTokenTtlSeconds * 1000 + MARGIN_MS;
  const maxEntries = options.maxCacheEntries ?? 50_000;
  const users = new Map<string, Cached<number | null>>();
  const sessions = new Map<string, Cached<boolean>>();

  const remember = <T>(cache: Map<string, Cached<T>>, key: string, value: T, forMs = options.cacheMs) => {
    if (forMs <= 0) return;
    // Crude bound: an attack spraying token subjects can only cost a refill.
    if (cache.size >= maxEntries) cache.clear();
    cache.set(key, { value, until: now() + forMs });
  };
  const fresh = <T>(cache: Map<string, Cached<T>>, key: string): Cached<T> | undefined => {
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit;
    if (hit) cache.delete(key);
    return undefined;
  };

  return {
    async revokeUser(userId, atMs = now()) {
      // Never move a revocation back in time (two admins acting at once): one atomic max-and-expire.
      const kept = Number(await redisOp(() => client.revokeUserAt(userKey(userId), String(Math.trunc(atMs)), ttlMs)));
      remember(users, userId, Number.isFinite(kept) ? Math.max(kept, atMs) : atMs);
    },
    async revokeSessions(sessionIds) {
      if (sessionIds.length === 0) return;
      const multi = redis.multi();
      for (const id of sessionIds) multi.set(sessionKey(id), '1', 'PX', ttlMs);
      await redisOp(() => multi.exec());
      for (const id of sessionIds) remember(sessions, id, true, ttlMs);
    },
    async isRevoked({ userId, sessionId, issuedAtMs }) {
      let user = fresh(users, userId);
      let session = fresh(sessions, sessionId);
      if (!user || !session) {
        const [u, s] = await redisOp(() => redis.mget(userKey(userId), sessionKey(sessionId)));
        user ??= { value: u ? Number(u) : null, until: 0 };
        session ??= { value: s !== null && s !== undefined, until: 0 };
        remember(users, userId, user.value);
        remember(sessions, sessionId, session.value);
      }
      return session.value || (user.value !== null && issuedAtMs < user.value);
    },
  };
}
