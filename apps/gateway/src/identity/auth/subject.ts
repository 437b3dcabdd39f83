import { permissionsOf } from '../roles/role.permissions.ts';
import type { RoleRecord } from '../roles/role.repository.ts';
import type { UserRecord } from '../users/user.repository.ts';
import type { TokenSubject } from './tokens.ts';

export function tokenSubject(user: UserRecord, roles: readonly RoleRecord[]): TokenSubject {
  return { id: user.id, username: user.username, roles: [...user.roles], permissions: permissionsOf(roles) };
}
