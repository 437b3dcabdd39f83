import { createHash } from 'node:crypto';
import { ExternalServiceError, RateLimitedError } from '@csda/errors';
import type { Redis } from '@csda/service-kit';

/** One counter's state after an attempt: hits in the current window and the window's remaining time. */
export interface WindowState {
  readonly count: number;
  readonly ttlMs: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole seconds until the blocking window ends (0 when allowed). */
  readonly retryAfterS: number;
}

/**
 * Fixed-window decision for several counters at once: blocked when any
 * counter is over its limit, until the longest blocking window ends.
 * A counter whose ttl is unknown (≤ 0) is treated as a whole window.
 */
export function decide(counters: readonly { state: WindowState; max: number; windowMs: number }[]): RateDecision {
  let retryMs = 0;
  for (const { state, max, windowMs } of counters) {
    if (state.count > max) retryMs = Math.max(retryMs, state.ttlMs > 0 ? Math.min(state.ttlMs, windowMs) : windowMs);
  }
  return retryMs > 0 ? { allowed: false, retryAfterS: Math.max(1, Math.ceil(retryMs / 1000)) } : { allowed: true, retryAfterS: 0 };
}

// INCR each key; the first hit of a window starts its expiry. Also repairs a
// key left without expiry. Returns count and pttl per key, in one round trip.
const HIT_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if count == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[#out + 1] = count
  out[#out + 1] = ttl
end
return out
`;

type RedisWithHit = Redis & { loginHit(...args: (string | number)[]): Promise<number[]> };

export interface LoginRateLimitOptions {
  readonly maxPerAccount: number;
  readonly maxPerIp: number;
  readonly windowSeconds: number;
}

/**
 * Whose attempts a login counts against: the account when the login names a
 * known user (so its username and email share one counter), else the typed
 * login itself (normalized), so unknown names are limited the same way.
 */
export type LoginAccount = { readonly userId: string } | { readonly login: string };

export interface LoginRateLimiter {
  /**
   * Counts one login attempt for the account and the client address.
   * Throws RATE_LIMITED (the same for existing and unknown accounts) when
   * either is over its limit, and EXTERNAL_SERVICE_ERROR when Redis is
   * unreachable: login fails closed.
   */
  hit(account: LoginAccount, ip: string): Promise<void>;
  /** A successful login clears the account's counter (not the address's). */
  resetAccount(account: LoginAccount): Promise<void>;
}

/** The normalized form of a typed login: what unknown-login counters (and their audit hashes) are keyed on. */
export const normalizeLogin = (login: string) => login.trim().toLowerCase();

// Account keys hash what they name: no usernames or emails in Redis. The
// two kinds have distinct prefixes, so no typed login can alias an account.
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const accountKey = (account: LoginAccount) =>
  'userId' in account ? `rl:login:user:${sha256(account.userId)}` : `rl:login:acct:${sha256(normalizeLogin(account.login))}`;
const ipKey = (ip: string) => `rl:login:ip:${ip}`;

export function createLoginRateLimiter(redis: Redis, options: LoginRateLimitOptions): LoginRateLimiter {
  if (!('loginHit' in redis)) redis.defineCommand('loginHit', { numberOfKeys: 2, lua: HIT_SCRIPT });
  const client = redis as RedisWithHit;
  const windowMs = options.windowSeconds * 1000;
  return {
    async hit(account, ip) {
      let raw: number[];
      try {
        raw = await client.loginHit(accountKey(account), ipKey(ip), windowMs, windowMs);
      } catch (err) {
        throw new ExternalServiceError('redis', err);
      }
      const [accountCount = 0, accountTtl = 0, ipCount = 0, ipTtl = 0] = raw.map(Number);
      const decision = decide([
        { state: { count: accountCount, ttlMs: accountTtl }, max: options.maxPerAccount, windowMs },
        { state: { count: ipCount, ttlMs: ipTtl }, max: options.maxPerIp, windowMs },
      ]);
      if (!decision.allowed) throw new RateLimitedError(decision.retryAfterS);
    },
    async resetAccount(account) {
      try {
        await redis.del(accountKey(account));
      } catch (err) {
        throw new ExternalServiceError('redis', err);
      }
    },
  };
}
