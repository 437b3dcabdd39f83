import type { IdentityDeps } from '../context.ts';
import type { RoleRecord } from './role.repository.ts';

/** Roles and their permissions (read-only for now; ADMIN and USER are seeded). */
export function createRoleService(deps: Pick<IdentityDeps, 'repositories'>) {
  return {
    async list(): Promise<RoleRecord[]> {
      return deps.repositories().roles.list();
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
