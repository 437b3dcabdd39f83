import type { EntityManager } from '@mikro-orm/postgresql';
import { RoleSchema } from './role.entity.ts';

export interface RoleRecord {
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly string[];
}

/** The only place that touches `identity.roles`. */
export function createRoleRepository(em: EntityManager) {
  const toRecord = (r: { name: string; description: string; permissions: string[] }): RoleRecord => ({
    name: r.name,
    description: r.description,
    permissions: [...r.permissions],
  });
  return {
    async list(): Promise<RoleRecord[]> {
      return (await em.find(RoleSchema, {}, { orderBy: { name: 'asc' }, disableIdentityMap: true })).map(toRecord);
    },
    async findByNames(names: readonly string[]): Promise<RoleRecord[]> {
      if (names.length === 0) return [];
      return (await em.find(RoleSchema, { name: { $in: [...names] } }, { orderBy: { name: 'asc' }, disableIdentityMap: true })).map(toRecord);
    },
  };
}

export type RoleRepository = ReturnType<typeof createRoleRepository>;
