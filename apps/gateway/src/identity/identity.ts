import type { AuditOutbox, Redis } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { registrationEnabled, type Config } from '../config.ts';
import { createAuthHooks, type AuthHooks } from './auth/auth.hooks.ts';
import { createAuthService, type AuthService } from './auth/auth.service.ts';
import type { Audit, IdentityDeps } from './context.ts';
import { createPasswordHasher } from './passwords.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { createIdentityRepositories } from './repositories.ts';
import { createRevocation } from './auth/revocation.ts';
import { createRoleService, type RoleService } from './roles/role.service.ts';
import { createAccessTokens } from './auth/tokens.ts';
import { createUserService, type UserService } from './users/user.service.ts';

export type IdentityConfig = Pick<
  Config,
  | 'NODE_ENV'
  | 'REGISTRATION_ENABLED'
  | 'ACCESS_TOKEN_TTL_S'
  | 'REFRESH_TOKEN_TTL_S'
  | 'REFRESH_FAMILY_MAX_AGE_S'
  | 'REFRESH_REUSE_GRACE_S'
  | 'LOGIN_FREE_FAILURES'
  | 'LOGIN_BACKOFF_BASE_S'
  | 'LOGIN_BACKOFF_MAX_S'
  | 'LOGIN_ACCOUNT_FAILURE_CEILING'
  | 'LOGIN_MAX_FAILURES_PER_CLIENT'
  | 'LOGIN_RATE_WINDOW_S'
  | 'LOGIN_KNOWN_CLIENT_TTL_S'
  | 'LOGIN_CEILING_DELAY_MS'
  | 'REVOCATION_CACHE_MS'
>;

export interface IdentityResources {
  readonly config: IdentityConfig;
  /** A new EntityManager fork per call. */
  readonly em: () => EntityManager;
  readonly redis: Redis;
  /** The gateway's audit outbox (relayed to AUDIT, then into identity.audit_log). */
  readonly outbox: AuditOutbox;
  /** From resolveJwtSecret. */
  readonly jwtSecret: string;
  readonly now?: () => number;
}

/**
 * Audit facts go to the gateway's outbox (PostgreSQL) and from there to
 * `csda.audit.gateway.<action>`: recorded before the action is reported done,
 * and NATS being down delays them without failing the request.
 */
export function gatewayAudit(outbox: Pick<AuditOutbox, 'record'>): Audit {
  return (fact) => outbox.record(fact);
}

/** The identity dependencies over opened resources (main.ts and the integration tests share this). */
export function createIdentityDeps(resources: IdentityResources): IdentityDeps {
  const { config } = resources;
  const passwords = createPasswordHasher();
  // Compute the dummy hash now, so the first login naming no account takes no longer than the others.
  passwords.verifyDummy('warm-up').catch(() => undefined);
  return {
    repositories: () => createIdentityRepositories(resources.em(), resources.outbox),
    passwords,
    accessTokens: createAccessTokens({ secret: resources.jwtSecret, ttlSeconds: config.ACCESS_TOKEN_TTL_S, now: resources.now }),
    rateLimiter: createLoginThrottle(resources.redis, {
      freeFailures: config.LOGIN_FREE_FAILURES,
      backoffBaseMs: config.LOGIN_BACKOFF_BASE_S * 1000,
      backoffMaxMs: config.LOGIN_BACKOFF_MAX_S * 1000,
      accountCeiling: config.LOGIN_ACCOUNT_FAILURE_CEILING,
      maxFailuresPerClient: config.LOGIN_MAX_FAILURES_PER_CLIENT,
      windowMs: config.LOGIN_RATE_WINDOW_S * 1000,
      knownClientTtlMs: config.LOGIN_KNOWN_CLIENT_TTL_S * 1000,
      ceilingDelayMs: config.LOGIN_CEILING_DELAY_MS,
      now: resources.now,
    }),
    revocation: createRevocation(resources.redis, { accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_S, cacheMs: config.REVOCATION_CACHE_MS, now: resources.now }),
    audit: gatewayAudit(resources.outbox),
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_S,
    refreshFamilyMaxAgeSeconds: config.REFRESH_FAMILY_MAX_AGE_S,
    refreshReuseGraceSeconds: config.REFRESH_REUSE_GRACE_S,
    registrationEnabled: registrationEnabled(config),
    now: resources.now ?? Date.now,
  };
}

export interface Identity {
  readonly hooks: AuthHooks;
  readonly authService: AuthService;
  readonly userService: UserService;
  readonly roleService: RoleService;
}

export function createIdentity(deps: IdentityDeps): Identity {
  return {
    hooks: createAuthHooks(deps),
    authService: createAuthService(deps),
    userService: createUserService(deps),
    roleService: createRoleService(deps),
  };
}
