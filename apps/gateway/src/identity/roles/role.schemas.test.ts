import { readFileSync } from 'node:fs';
import { ROLE_NAME_PATTERN, isRoleName } from '@csda/auth';
import { describe, expect, it } from 'vitest';
import { setRolesBody } from '../users/user.schemas.ts';
import { roleName } from './role.schemas.ts';

describe('role names', () => {
  it('accept upper-case names of 1 to 64 characters, and nothing else', () => {
    for (const ok of ['A', 'ADMIN', 'USER_ADMIN', 'R2D2', 'A'.repeat(64)]) {
      expect(roleName.safeParse(ok).success, ok).toBe(true);
      expect(isRoleName(ok)).toBe(true);
    }
    for (const bad of ['', 'admin', '_ADMIN', '1ADMIN', 'ADMIN-X', 'ADMIN ', 'ÄDMIN', 'A'.repeat(65), 'ADMIN\n']) {
      expect(roleName.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
      expect(isRoleName(bad)).toBe(false);
    }
    expect(setRolesBody.safeParse({ roles: ['ADMIN', 'lower'] }).success).toBe(false);
  });

  it('are the rule the database enforces (the migration spells ROLE_NAME_PATTERN in SQL)', () => {
    const migration = readFileSync(new URL('../../migrations/Migration20261201000000-identity.ts', import.meta.url), 'utf8');
    expect(migration).toContain(`check ("name" ~ '${ROLE_NAME_PATTERN.source}')`);
  });
});
