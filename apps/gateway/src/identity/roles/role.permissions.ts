import { isPermission } from '@csda/auth';
import type { RoleRecord } from './role.repository.ts';

/** The effective permissions of a set of roles: the union of their known permissions, sorted. */
export function permissionsOf(roles: readonly RoleRecord[]): string[] {
  return [...new Set(roles.flatMap((r) => r.permissions).filter(isPermission))].sort();
}
