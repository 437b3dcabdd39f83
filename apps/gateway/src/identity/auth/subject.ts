import { isPermission } from '@csda/auth';
import type { RoleRecord } from '../roles/role.repository.ts';
import type { TokenSubject } from './tokens.ts';
import type { UserRecord } from '../users/user.repository.ts';

/** The effective permissions of a set of roles: the union of their known permissions, sorted. */
export function permissionsOf(roles: readonly RoleRecord[]): string[] {
  return [...new Set(roles.flatMap((r) => r.permissions).filter(isPermission))].sort();
}

export function tokenSubject(user: UserRecord, roles: readonly RoleRecord[]): TokenSubject {
  return { id: user.id, username: user.username, roles: [...user.roles], permissions: permissionsOf(roles) };
}
