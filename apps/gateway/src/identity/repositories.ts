import type { EntityManager } from '@mikro-orm/postgresql';
import { createRefreshTokenRepository, type RefreshTokenRepository } from './auth/refresh-token.repository.ts';
import { createRoleRepository, type RoleRepository } from './roles/role.repository.ts';
import { createUserRepository, type UserRepository } from './users/user.repository.ts';

export interface IdentityRepositories {
  readonly users: UserRepository;
  readonly roles: RoleRepository;
  readonly refreshTokens: RefreshTokenRepository;
  /** Runs `work` in one transaction, with repositories bound to it. */
  transaction<T>(work: (repos: IdentityRepositories) => Promise<T>): Promise<T>;
}

/** The identity repositories over one EntityManager (one fork per request). */
export function createIdentityRepositories(em: EntityManager): IdentityRepositories {
  return {
    users: createUserRepository(em),
    roles: createRoleRepository(em),
    refreshTokens: createRefreshTokenRepository(em),
    transaction(work) {
      return em.transactional((tx) => work(createIdentityRepositories(tx)));
    },
  };
}
