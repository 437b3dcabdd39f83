import { AuthorizationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import {
  PERMISSIONS,
  SEEDED_ROLES,
  hasPermission,
  requirePermission,
  servicePrincipal,
  type Permission,
  type Principal,
} from './permissions.ts';

function userWithRole(roleName: string): Principal {
  const role = SEEDED_ROLES.find((r) => r.name === roleName);
  if (!role) throw new Error(`no role ${roleName}`);
  return { kind: 'user', id: 'u1', name: 'alice', roles: [roleName], permissions: role.permissions };
}

describe('permissions', () => {
  it('names every permission <resource>:<verb>, without duplicates', () => {
    expect(PERMISSIONS).toHaveLength(22);
    expect(new Set(PERMISSIONS).size).toBe(PERMISSIONS.length);
    for (const p of PERMISSIONS) expect(p).toMatch(/^[a-z]+:[a-z]+$/);
  });

  it('grants ADMIN every permission', () => {
    const admin = userWithRole('ADMIN');
    for (const p of PERMISSIONS) expect(hasPermission(admin, p)).toBe(true);
  });

  it('grants USER only own-resource permissions', () => {
    const user = userWithRole('USER');
    expect(hasPermission(user, 'secrets:reveal')).toBe(true);
    expect(hasPermission(user, 'tools:execute')).toBe(true);
    expect(hasPermission(user, 'search:query')).toBe(true);
    for (const p of ['users:admin', 'users:read', 'audit:read', 'roles:admin', 'secrets:admin', 'system:read', 'alerts:admin', 'documents:admin'] as const) {
      expect(hasPermission(user, p)).toBe(false);
    }
    expect([...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions].sort()).toEqual(
      [
        'alerts:read', 'documents:read', 'documents:write', 'jobs:read', 'schedules:read', 'schedules:write', 'search:query',
        'secrets:read', 'secrets:reveal', 'secrets:write', 'tools:execute', 'tools:read', 'tools:write',
      ],
    );
  });

  it('never grants an unknown permission, even when listed', () => {
    const odd: Principal = { kind: 'user', id: 'u2', name: 'bob', roles: [], permissions: ['widgets:frob', '*'] };
    expect(hasPermission(odd, 'widgets:frob' as Permission)).toBe(false);
    expect(hasPermission(odd, '*' as Permission)).toBe(false);
    expect(hasPermission(undefined, 'secrets:read')).toBe(false);
  });

  it('requirePermission throws AuthorizationError only when missing', () => {
    const user = userWithRole('USER');
    expect(() => requirePermission(user, 'secrets:read')).not.toThrow();
    expect(() => requirePermission(user, 'audit:read')).toThrow(AuthorizationError);
    expect(() => requirePermission(undefined, 'secrets:read')).toThrow(AuthorizationError);
  });

  it('builds service principals with exactly the given permissions', () => {
    const scheduler = servicePrincipal('scheduler', ['secrets:admin', 'schedules:read']);
    expect(scheduler).toEqual({
      kind: 'service',
      id: 'service:scheduler',
      name: 'scheduler',
      roles: [],
      permissions: ['secrets:admin', 'schedules:read'],
    });
    expect(hasPermission(scheduler, 'secrets:admin')).toBe(true);
    expect(hasPermission(scheduler, 'users:admin')).toBe(false);
    expect(() => servicePrincipal('Bad Name', [])).toThrow(TypeError);
    expect(() => servicePrincipal('jobs', ['nope:nope' as Permission])).toThrow(TypeError);
  });
});
