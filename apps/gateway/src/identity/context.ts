import type { AuditFact } from '@csda/service-kit';
import type { FastifyRequest } from 'fastify';
import type { PasswordHasher } from './passwords.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import type { IdentityRepositories } from './repositories.ts';
import type { Revocation } from './auth/revocation.ts';
import type { AccessTokens } from './auth/tokens.ts';

/** Facts about the REST call an action came from, for the audit trail. */
export interface RequestContext {
  readonly ip: string;
  readonly requestId: string;
  /** `<METHOD> <route template>`, e.g. `PUT /api/v1/users/:id/roles`. */
  readonly route?: string;
  /** The client's User-Agent, for telling one client's concurrent refreshes from a replay. */
  readonly userAgent?: string;
}

/** The RequestContext of a Fastify request (its client address as TRUST_PROXY resolves it). */
export function requestContext(request: FastifyRequest): RequestContext {
  const ua = request.headers['user-agent'];
  return {
    ip: request.ip,
    requestId: request.id,
    route: `${request.method} ${request.routeOptions.url ?? request.url}`,
    ...(typeof ua === 'string' ? { userAgent: ua } : {}),
  };
}

/** Publishes one audit fact and resolves once AUDIT has it (rejects otherwise). */
export type Audit = (fact: AuditFact) => Promise<void>;

/** Everything the identity services may depend on; each takes a Pick<> of it. */
export interface IdentityDeps {
  /** A fresh set of repositories over a new EntityManager fork: call once per request. */
  readonly repositories: () => IdentityRepositories;
  readonly passwords: PasswordHasher;
  readonly accessTokens: AccessTokens;
  readonly rateLimiter: LoginThrottle;
  readonly revocation: Revocation;
  readonly audit: Audit;
  readonly refreshTokenTtlSeconds: number;
  /** Absolute lifetime of a refresh-token family from its login; unset: none. */
  readonly refreshFamilyMaxAgeSeconds?: number;
  /** How long after spending a refresh token the same client may spend it again (a sibling, no alarm); unset: 0. */
  readonly refreshReuseGraceSeconds?: number;
  readonly registrationEnabled: boolean;
  readonly now: () => number;
}
