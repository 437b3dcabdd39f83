import { ConfigError, baseConfigShape, portVar, urlVar } from '@csda/service-kit';
import { z } from 'zod';
import { DEFAULT_TTL_S, type CacheFamily } from './cache/families.ts';
import { parseTrustProxy } from './trust-proxy.ts';

const serviceUrl = (port: number) => urlVar(['http', 'https'], `http://127.0.0.1:${port}`);
const seconds = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const count = (fallback: number) => z.coerce.number().int().min(1).max(1_000_000).default(fallback);

/** Minimum size of the HS256 access-token key (RFC 7518 §3.2: at least the hash size). */
export const JWT_SECRET_MIN_BYTES = 32;

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50050),
  GATEWAY_PORT: portVar(8080),
  REDIS_URL: urlVar(['redis', 'rediss'], 'redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().max(64).default('csda:'),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1_024).max(512 * 1024 * 1024).default(1_048_576),
  VAULT_URL: serviceUrl(50051),
  TOOL_RUNNER_URL: serviceUrl(50052),
  DOCUMENT_INGEST_URL: serviceUrl(50053),
  SEARCH_URL: serviceUrl(50054),
  SCHEDULER_URL: serviceUrl(50055),
  /** Largest document upload, as document-ingest's DOCUMENT_MAX_BYTES (set both alike): refused with 413 while it streams. */
  DOCUMENT_MAX_BYTES: z.coerce.number().int().min(1).max(4 * 1024 * 1024 * 1024).default(50 * 1024 * 1024),
  /** Deadline of one document upload or download through the gateway, end to end. */
  DOCUMENT_TRANSFER_TIMEOUT_S: seconds(10, 86_400, 900),
  /** Uploads one user may stream through one gateway replica at once (429 beyond). */
  DOCUMENT_UPLOADS_PER_USER: z.coerce.number().int().min(1).max(1_000).default(4),
  /** Set to the tool-runner's TOOLS_WAIT_MAX_S: a `wait: true` execution's call gets this much time (plus a margin). */
  TOOLS_WAIT_MAX_S: seconds(1, 600, 30),
  AUDIT_ACK_WAIT_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),

  // Response cache (cache/): Redis entries invalidated by generation counters; TTLs per family.
  CACHE_ENABLED: z.stringbool().default(true),
  /**
   * The cache's own Redis (default: REDIS_URL). Worth it in production: give it an evicting policy
   * (allkeys-lru) while REDIS_URL, holding rate limits and revocations, keeps noeviction; and an outage
   * of it only bypasses the cache, where REDIS_URL's fails authenticated requests closed.
   */
  CACHE_REDIS_URL: urlVar(['redis', 'rediss']).optional(),
  CACHE_TTL_DOCUMENTS_S: seconds(1, 86_400, DEFAULT_TTL_S.documents),
  CACHE_TTL_TOOLS_S: seconds(1, 86_400, DEFAULT_TTL_S.tools),
  CACHE_TTL_TOOL_STATS_S: seconds(1, 86_400, DEFAULT_TTL_S.tool_stats),
  CACHE_TTL_SECRETS_S: seconds(1, 86_400, DEFAULT_TTL_S.secrets),
  CACHE_TTL_ROLES_S: seconds(1, 86_400, DEFAULT_TTL_S.roles),
  CACHE_TTL_SEARCH_S: seconds(1, 86_400, DEFAULT_TTL_S.search),
  /** Answers larger than this are served but not stored. */
  CACHE_MAX_ENTRY_BYTES: z.coerce.number().int().min(1_024).max(64 * 1024 * 1024).default(1_048_576),
  /** A cache call to Redis slower than this is an outage: that request (and, for a second, the others) skips the cache. */
  CACHE_REDIS_TIMEOUT_MS: z.coerce.number().int().min(5).max(10_000).default(250),
  /** `true`, `false`, or a comma-separated list of proxy addresses/CIDRs (Fastify `trustProxy`; see trust-proxy.ts). */
  TRUST_PROXY: z
    .string()
    .default('false')
    .superRefine((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if ('problems' in parsed) ctx.addIssue({ code: 'custom', message: `expected true, false or a comma-separated list of addresses/CIDRs (${parsed.problems.join('; ')})` });
    }),

  // Identity
  JWT_SECRET: z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') >= JWT_SECRET_MIN_BYTES, { message: `must be at least ${JWT_SECRET_MIN_BYTES} bytes` })
    .optional(),
  ACCESS_TOKEN_TTL_S: seconds(60, 86_400, 900),
  REFRESH_TOKEN_TTL_S: seconds(300, 90 * 86_400, 14 * 86_400),
  /** Absolute lifetime of a login's refresh-token family, however often refreshed. */
  REFRESH_FAMILY_MAX_AGE_S: seconds(300, 365 * 86_400, 30 * 86_400),
  /** The same client (address + user agent) may spend a refresh token again this long after: concurrent refreshes. */
  REFRESH_REUSE_GRACE_S: seconds(0, 60, 5),
  REGISTRATION_ENABLED: z.stringbool().optional(),
  // Login throttling (identity/auth/login-throttle.ts): failures, never attempts, are counted.
  LOGIN_FREE_FAILURES: count(5),
  LOGIN_BACKOFF_BASE_S: seconds(1, 3_600, 1),
  LOGIN_BACKOFF_MAX_S: seconds(1, 86_400, 900),
  LOGIN_ACCOUNT_FAILURE_CEILING: count(50),
  LOGIN_MAX_FAILURES_PER_CLIENT: count(100),
  LOGIN_RATE_WINDOW_S: seconds(1, 86_400, 900),
  LOGIN_KNOWN_CLIENT_TTL_S: seconds(60, 365 * 86_400, 30 * 86_400),
  LOGIN_CEILING_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(1_000),
  REVOCATION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  /** Read by `bootstrap` only; checked against the password policy there. */
  ADMIN_INITIAL_PASSWORD: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Registration is on by default outside production; REGISTRATION_ENABLED overrides. */
export function registrationEnabled(config: Pick<Config, 'NODE_ENV' | 'REGISTRATION_ENABLED'>): boolean {
  return config.REGISTRATION_ENABLED ?? config.NODE_ENV !== 'production';
}

/**
 * What `serve` needs beyond the schema: production must bring its own JWT
 * secret (the internal signing key is checked by the service kit).
 */
export function assertServeConfig(config: Pick<Config, 'NODE_ENV' | 'JWT_SECRET'>): void {
  if (config.NODE_ENV !== 'production') return;
  if (config.JWT_SECRET === undefined) throw new ConfigError([`JWT_SECRET: required when NODE_ENV=production (at least ${JWT_SECRET_MIN_BYTES} bytes)`]);
}

/** Fastify's `trustProxy` from TRUST_PROXY. */
export function trustProxySetting(value: string): boolean | string {
  const parsed = parseTrustProxy(value);
  if ('problems' in parsed) throw new ConfigError(parsed.problems.map((p) => `TRUST_PROXY: ${p}`));
  return parsed.setting;
}

/** The TTL of each cache family from CACHE_TTL_<FAMILY>_S. */
export function cacheTtls(config: Config): Record<CacheFamily, number> {
  return {
    documents: config.CACHE_TTL_DOCUMENTS_S,
    tools: config.CACHE_TTL_TOOLS_S,
    tool_stats: config.CACHE_TTL_TOOL_STATS_S,
    secrets: config.CACHE_TTL_SECRETS_S,
    roles: config.CACHE_TTL_ROLES_S,
    search: config.CACHE_TTL_SEARCH_S,
  };
}
