import { sha256Hex } from '@csda/crypto';
import { RateLimitedError } from '@csda/errors';
import { redisOp, type Redis } from '@csda/service-kit';
import { clientKey } from './client-key.ts';

/**
 * Login throttling that cannot lock a victim out. The scheme is OWASP's
 * "Slow Down Online Guessing Attacks with Device Cookies" with a recently
 * successful client address standing in for the device cookie, and
 * Keycloak-style brute-force detection (failure count → exponential wait,
 * capped, forgotten after a reset time) for the per-client back-off:
 *
 * - FAILURES are counted, never attempts, per (account, client); a client is
 *   an IPv4 address or an IPv6 /64 (clientKey). (An attempt is counted when
 *   it is let through and erased if it succeeds, so parallel guesses are
 *   throttled too.) After `freeFailures` of them
 *   that pair waits `backoffBaseMs · 2^(n − freeFailures − 1)` (≤ backoffMaxMs)
 *   before its next attempt is even checked. Other clients of the account are
 *   untouched: six bad logins from one address never stop the owner at another.
 * - A success resets that pair and marks the client known-good for the
 *   account (`knownClientTtlMs`).
 * - A per-account ceiling on failures from all clients together
 *   (`accountCeiling` in `windowMs`, a distributed guess) refuses unknown
 *   clients of that account but only SLOWS known-good ones (`ceilingDelayMs`
 *   before the password is checked): the owner still gets in from where
 *   they usually log in, the botnet does not.
 * - A per-client ceiling on failures across accounts (`maxFailuresPerClient`,
 *   password spraying) refuses that client, except for accounts it is
 *   known-good for.
 * Redis being unreachable fails closed (EXTERNAL_SERVICE_ERROR).
 */
export interface LoginThrottleOptions {
  readonly freeFailures: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly accountCeiling: number;
  readonly maxFailuresPerClient: number;
  /** How long failure counters are remembered after the last failure. */
  readonly windowMs: number;
  readonly knownClientTtlMs: number;
  readonly ceilingDelayMs: number;
  readonly now?: () => number;
}

/**
 * Whose failures a login counts against: the account when the login names a
 * known user (so its username and email share one counter), else the typed
 * login itself (normalized), so unknown names are throttled the same way.
 */
export type LoginAccount = { readonly userId: string } | { readonly login: string };

export interface LoginThrottle {
  /**
   * Before the password is checked. Throws RATE_LIMITED (the same for known
   * and unknown accounts) while the pair backs off or a ceiling applies, and
   * EXTERNAL_SERVICE_ERROR when Redis is unreachable. Resolves with how long
   * to slow this attempt down (ms, 0 mostly).
   */
  check(account: LoginAccount, ip: string): Promise<{ slowMs: number }>;
  /** A refused login (unknown user, bad password, inactive): counts one failure. */
  failed(account: LoginAccount, ip: string): Promise<void>;
  /** A good login: clears the pair's failures and marks the client known-good. */
  succeeded(account: LoginAccount, ip: string): Promise<void>;
}

/** What Redis holds for one attempt's (account, client). */
export interface ThrottleState {
  readonly blockedUntilMs: number;
  readonly accountFailures: number;
  readonly accountTtlMs: number;
  readonly clientFailures: number;
  readonly clientTtlMs: number;
  readonly known: boolean;
}

export type ThrottleDecision = { readonly allowed: true; readonly slowMs: number } | { readonly allowed: false; readonly retryAfterS: number };

type DecisionOptions = Pick<LoginThrottleOptions, 'accountCeiling' | 'maxFailuresPerClient' | 'windowMs' | 'ceilingDelayMs'>;

/** The wait after the `failures`-th failure of a pair (0 while free). */
export function backoffMs(failures: number, options: Pick<LoginThrottleOptions, 'freeFailures' | 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const over = failures - options.freeFailures;
  if (over <= 0) return 0;
  return Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.min(over - 1, 40));
}

/** The decision for one attempt from the stored state (pure; see LoginThrottle). */
export function decide(state: ThrottleState, options: DecisionOptions, nowMs: number): ThrottleDecision {
  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  const ttl = (ms: number) => (ms > 0 ? Math.min(ms, options.windowMs) : options.windowMs);
  if (state.blockedUntilMs > nowMs) return { allowed: false, retryAfterS: seconds(state.blockedUntilMs - nowMs) };
  if (!state.known && state.clientFailures >= options.maxFailuresPerClient) return { allowed: false, retryAfterS: seconds(ttl(state.clientTtlMs)) };
  if (state.accountFailures >= options.accountCeiling) {
    return state.known ? { allowed: true, slowMs: options.ceilingDelayMs } : { allowed: false, retryAfterS: seconds(ttl(state.accountTtlMs)) };
  }
  return { allowed: true, slowMs: 0 };
}

/** The normalized form of a typed login: what unknown-login counters (and their audit hashes) are keyed on. */
export const normalizeLogin = (login: string) => login.trim().toLowerCase();

// Keys hash what they name: no usernames, emails or addresses in Redis. The
// two account kinds have distinct prefixes, so no typed login can alias an account.
const accountId = (account: LoginAccount) => ('userId' in account ? `u:${sha256Hex(account.userId)}` : `l:${sha256Hex(normalizeLogin(account.login))}`);
const keysOf = (account: LoginAccount, ip: string) => {
  const acct = accountId(account);
  const client = sha256Hex(clientKey(ip));
  const pair = sha256Hex(`${acct}|${client}`);
  return { pair: `lt:pair:${pair}`, account: `lt:acct:${acct}`, client: `lt:client:${client}`, known: `lt:known:${pair}` };
};

// Check and reserve in one step. KEYS: pair, account, client, known. ARGV: now ms, window ms,
// backoffMs's parameters (free, base, max), account ceiling, per-client ceiling. Returns the
// state BEFORE this attempt (blocked-until, account failures + pttl, client failures + pttl,
// known). When the attempt is allowed (the same rule as decide(), which the caller applies to
// that state) it is counted as a failure of its pair up front, and the pair's wait set from
// the new count: a burst of parallel guesses is throttled like a sequence. A good login then
// erases the pair (succeeded), so only failures remain counted.
const CHECK_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local free, base, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local u = redis.call('HGET', KEYS[1], 'u') or '0'
local a = tonumber(redis.call('GET', KEYS[2]) or '0')
local at = redis.call('PTTL', KEYS[2])
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
local ct = redis.call('PTTL', KEYS[3])
local k = redis.call('EXISTS', KEYS[4])
local refused = tonumber(u) > now or (k == 0 and (c >= tonumber(ARGV[7]) or a >= tonumber(ARGV[6])))
if not refused then
  local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
  local wait = 0
  if f > free then
    wait = math.min(max, base * math.pow(2, math.min(f - free - 1, 40)))
    redis.call('HSET', KEYS[1], 'u', string.format('%d', now + wait))
  end
  redis.call('PEXPIRE', KEYS[1], math.floor(math.max(window, wait) + 1000))
end
return { u, a, at, c, ct, k }
`;

// A refused login's share of the ceilings. KEYS: account, client. ARGV: window ms.
const FAILURE_SCRIPT = `
for i = 1, 2 do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 or redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1
`;

type ThrottleRedis = Redis & {
  loginThrottleCheck(...args: (string | number)[]): Promise<(string | number)[]>;
  loginThrottleFailure(...args: (string | number)[]): Promise<number>;
};

export function createLoginThrottle(redis: Redis, options: LoginThrottleOptions): LoginThrottle {
  if (!('loginThrottleCheck' in redis)) redis.defineCommand('loginThrottleCheck', { numberOfKeys: 4, lua: CHECK_SCRIPT });
  if (!('loginThrottleFailure' in redis)) redis.defineCommand('loginThrottleFailure', { numberOfKeys: 2, lua: FAILURE_SCRIPT });
  const client = redis as ThrottleRedis;
  const now = options.now ?? Date.now;
  return {
    async check(account, ip) {
      const k = keysOf(account, ip);
      const at = now();
      const o = options;
      const raw = await redisOp(() =>
        client.loginThrottleCheck(k.pair, k.account, k.client, k.known, at, o.windowMs, o.freeFailures, o.backoffBaseMs, o.backoffMaxMs, o.accountCeiling, o.maxFailuresPerClient),
      );
      const [blockedUntilMs = 0, accountFailures = 0, accountTtlMs = 0, clientFailures = 0, clientTtlMs = 0, known = 0] = raw.map(Number);
      const decision = decide({ blockedUntilMs, accountFailures, accountTtlMs, clientFailures, clientTtlMs, known: known === 1 }, options, at);
      if (!decision.allowed) throw new RateLimitedError(decision.retryAfterS);
      return { slowMs: decision.slowMs };
    },
    async failed(account, ip) {
      const k = keysOf(account, ip);
      await redisOp(() => client.loginThrottleFailure(k.account, k.client, options.windowMs));
    },
    async succeeded(account, ip) {
      const k = keysOf(account, ip);
      await redisOp(() => redis.multi().del(k.pair).set(k.known, '1', 'PX', options.knownClientTtlMs).exec());
    },
  };
}
