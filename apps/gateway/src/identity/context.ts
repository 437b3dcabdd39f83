import type { AuditFact } from '@csda/service-kit';
import type { PasswordHasher } from './passwords.ts';
import type { LoginRateLimiter } from './auth/rate-limit.ts';
import type { IdentityRepositories } from './repositories.ts';
import type { Revocation } from './auth/revocation.ts';
import type { AccessTokens } from './auth/tokens.ts';

/** Facts about the REST call an action came from, for the audit trail. */
export interface RequestContext {
  readonly ip: string;
  readonly requestId: string;
}

/** Publishes one audit fact and resolves once AUDIT has it (rejects otherwise). */
export type Audit = (fact: AuditFact) => Promise<void>;

/** Everything the identity services may depend on; each takes a Pick<> of it. */
export interface IdentityDeps {
  /** A fresh set of repositories over a new EntityManager fork: call once per request. */
  readonly repositories: () => IdentityRepositories;
  readonly passwords: PasswordHasher;
  readonly accessTokens: AccessTokens;
  readonly rateLimiter: LoginRateLimiter;
  readonly revocation: Revocation;
  readonly audit: Audit;
  readonly refreshTokenTtlSeconds: number;
  readonly registrationEnabled: boolean;
  readonly now: () => number;
}
