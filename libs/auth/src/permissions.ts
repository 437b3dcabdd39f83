import { AuthorizationError } from '@csda/errors';

/**
 * Every permission the platform knows, named `<resource>:<verb>`. This list
 * is the one place permissions are defined; roles, tokens and checks refer
 * to it.
 */
export const PERMISSIONS = [
  'secrets:read',
  'secrets:write',
  'secrets:reveal',
  'secrets:admin',
  'users:read',
  'users:admin',
  'roles:read',
  'roles:admin',
  'audit:read',
  'tools:read',
  'tools:write',
  'tools:execute',
  'documents:read',
  'documents:write',
  'documents:admin',
  'search:query',
  'schedules:read',
  'schedules:write',
  'jobs:read',
  'alerts:read',
  'alerts:admin',
  'system:read',
] as const;

/** A permission name, e.g. `secrets:reveal`. */
export type Permission = (typeof PERMISSIONS)[number];

const KNOWN: ReadonlySet<string> = new Set(PERMISSIONS);

/** True when `value` is one of {@link PERMISSIONS}. */
export function isPermission(value: string): value is Permission {
  return KNOWN.has(value);
}

/**
 * Who is calling: a user authenticated by the gateway, or a service identity
 * (scheduler, one-shot jobs). `permissions` is the effective set, already
 * resolved from the roles.
 */
export interface Principal {
  readonly kind: 'user' | 'service';
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  /** A service acting for this user: ownership and visibility are the user's. */
  readonly onBehalfOf?: OnBehalfOf;
  /**
   * Explicit grants of a service acting for a user, `<permission>:<resource id>`
   * (e.g. `secrets:reveal:<secret id>`): the only resources it may touch.
   */
  readonly scope?: readonly string[];
}

/** The user a service principal acts for. */
export interface OnBehalfOf {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
}

/** The only issuer whose tokens may name users: the gateway, which authenticates them. */
export const USER_ISSUER = 'gateway';

/**
 * What a role name looks like: upper case, starting with a letter, then
 * letters, digits or `_`, 64 characters at most (e.g. `ADMIN`, `USER_ADMIN`).
 * The gateway's request schemas and the vault's validation use this one
 * pattern; the identity migration's CHECK constraint spells the same rule in SQL.
 */
export const ROLE_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/** True when `value` is a well-formed role name ({@link ROLE_NAME_PATTERN}). */
export function isRoleName(value: string): boolean {
  return ROLE_NAME_PATTERN.test(value);
}

/** A role created by the bootstrap. */
export interface SeededRole {
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly Permission[];
}

/** What an ordinary user may do with their own resources. */
const USER_PERMISSIONS: readonly Permission[] = [
  'secrets:read',
  'secrets:write',
  'secrets:reveal',
  'tools:read',
  'tools:write',
  'tools:execute',
  'documents:read',
  'documents:write',
  'search:query',
  'schedules:read',
  'schedules:write',
  'jobs:read',
  'alerts:read',
];

/** Roles the bootstrap seeds: `ADMIN` holds every permission, `USER` the own-resource ones. */
export const SEEDED_ROLES: readonly SeededRole[] = Object.freeze([
  Object.freeze({
    name: 'ADMIN',
    description: 'Full access to every resource, user and role',
    permissions: Object.freeze([...PERMISSIONS]),
  }),
  Object.freeze({
    name: 'USER',
    description: 'Works with their own secrets, tools, documents, searches and schedules',
    permissions: Object.freeze([...USER_PERMISSIONS]),
  }),
]);

/**
 * True when the principal holds `permission`. Unknown permission names are
 * never granted, even when a principal's list happens to contain them.
 */
export function hasPermission(principal: Principal | undefined, permission: Permission): boolean {
  if (!principal || !isPermission(permission)) return false;
  return principal.permissions.includes(permission);
}

/** Throws {@link AuthorizationError} unless the principal holds `permission`. */
export function requirePermission(principal: Principal | undefined, permission: Permission): void {
  if (!hasPermission(principal, permission)) {
    throw new AuthorizationError(`Permission ${permission} required`);
  }
}

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * A service identity (scheduler, one-shot jobs): id `service:<name>`, no
 * roles, exactly the permissions given. Throws on a malformed name or an
 * unknown permission, which are programming errors.
 */
export function servicePrincipal(service: string, permissions: readonly Permission[]): Principal {
  if (!SERVICE_NAME.test(service)) throw new TypeError(`Invalid service name "${service}"`);
  for (const permission of permissions) {
    if (!isPermission(permission)) throw new TypeError(`Unknown permission "${String(permission)}"`);
  }
  return Object.freeze({
    kind: 'service',
    id: `service:${service}`,
    name: service,
    roles: Object.freeze([]),
    permissions: Object.freeze([...new Set(permissions)]),
  });
}

/**
 * A service principal acting for `user`, allowed exactly the `grants`
 * (`[permission, resource id]` pairs, e.g. "reveal secret S for tool T").
 * Its permissions are those the grants name, no more.
 */
export function actingFor(service: Principal, user: OnBehalfOf, grants: readonly (readonly [Permission, string])[]): Principal {
  if (service.kind !== 'service') throw new TypeError('Only a service principal acts for a user');
  if (grants.length === 0) throw new TypeError('Acting for a user needs at least one explicit grant');
  for (const [permission, resource] of grants) {
    if (!isPermission(permission)) throw new TypeError(`Unknown permission "${String(permission)}"`);
    if (!resource) throw new TypeError('A grant names one resource');
  }
  return Object.freeze({
    ...service,
    permissions: Object.freeze([...new Set(grants.map(([permission]) => permission))]),
    onBehalfOf: Object.freeze({ id: user.id, name: user.name, roles: Object.freeze([...user.roles]) }),
    scope: Object.freeze(grants.map(([permission, resource]) => `${permission}:${resource}`)),
  });
}

/** The user whose resources a call reaches: the acted-for user, else the principal itself. */
export function subjectOf(principal: Principal): { readonly id: string; readonly roles: readonly string[] } {
  return principal.onBehalfOf ?? principal;
}

/**
 * True when `principal` may use `permission` on `resourceId`: it holds the
 * permission and, if it carries a scope, the scope names that resource.
 */
export function scopeAllows(principal: Principal, permission: Permission, resourceId: string): boolean {
  if (!hasPermission(principal, permission)) return false;
  if (principal.scope === undefined && principal.onBehalfOf === undefined) return true;
  return (principal.scope ?? []).includes(`${permission}:${resourceId}`);
}

/**
 * The one check for resource operations: the principal holds `permission`,
 * and a scoped principal (a service acting for a user) may use it only on a
 * resource its scope names — never on collections (`resourceId` omitted).
 */
export function requireScoped(principal: Principal | undefined, permission: Permission, resourceId?: string): void {
  requirePermission(principal, permission);
  const scoped = principal!.scope !== undefined || principal!.onBehalfOf !== undefined;
  if (scoped && (resourceId === undefined || !scopeAllows(principal!, permission, resourceId))) {
    throw new AuthorizationError(`Permission ${permission} required`);
  }
}
