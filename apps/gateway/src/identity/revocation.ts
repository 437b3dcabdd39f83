import { ExternalServiceError } from '@csda/errors';
import type { Redis } from '@csda/service-kit';

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

export function createRevocation(redis: Redis, options: RevocationOptions): Revocation {
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
  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw new ExternalServiceError('redis', err);
    }
  };

  return {
    async revokeUser(userId, atMs = now()) {
      // Never move a revocation back in time (two admins acting at once).
      const previous = Number((await run(() => redis.get(userKey(userId)))) ?? 0);
      const at = Math.max(previous, atMs);
      await run(() => redis.set(userKey(userId), String(at), 'PX', ttlMs));
      remember(users, userId, at);
    },
    async revokeSessions(sessionIds) {
      if (sessionIds.length === 0) return;
      const multi = redis.multi();
      for (const id of sessionIds) multi.set(sessionKey(id), '1', 'PX', ttlMs);
      await run(() => multi.exec());
      for (const id of sessionIds) remember(sessions, id, true, ttlMs);
    },
    async isRevoked({ userId, sessionId, issuedAtMs }) {
      let user = fresh(users, userId);
      let session = fresh(sessions, sessionId);
      if (!user || !session) {
        const [u, s] = await run(() => redis.mget(userKey(userId), sessionKey(sessionId)));
        user ??= { value: u ? Number(u) : null, until: 0 };
        session ??= { value: s !== null && s !== undefined, until: 0 };
        remember(users, userId, user.value);
        remember(sessions, sessionId, session.value);
      }
      return session.value || (user.value !== null && issuedAtMs < user.value);
    },
  };
}
