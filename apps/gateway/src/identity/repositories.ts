import type { AuditFact, AuditOutbox } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createRefreshTokenRepository, type RefreshTokenRepository } from './auth/refresh-token.repository.ts';
import { createRoleRepository, type RoleRepository } from './roles/role.repository.ts';
import { createUserRepository, type UserRepository } from './users/user.repository.ts';

export interface IdentityRepositories {
  readonly users: UserRepository;
  readonly roles: RoleRepository;
  readonly refreshTokens: RefreshTokenRepository;
  /**
   * Records an audit fact in the gateway's outbox on this EntityManager:
   * inside `transaction`, it commits (or rolls back) with the change.
   */
  audit(fact: AuditFact): Promise<void>;
  /** Runs `work` in one transaction, with repositories bound to it; its audit records are relayed after the commit. */
  transaction<T>(work: (repos: IdentityRepositories) => Promise<T>): Promise<T>;
}

/** The identity repositories over one EntityManager (one fork per request). */
export function createIdentityRepositories(em: EntityManager, outbox: AuditOutbox): IdentityRepositories {
  const inTransaction = em.isInTransaction();
  return {
    users: createUserRepository(em),
    roles: createRoleRepository(em),
    refreshTokens: createRefreshTokenRepository(em),
    audit: (fact) => (inTransaction ? outbox.write(em, [fact]) : outbox.record(fact)),
    async transaction(work) {
      const result = await em.transactional((tx) => work(createIdentityRepositories(tx, outbox)));
      outbox.kick();
      return result;
    },
  };
}
