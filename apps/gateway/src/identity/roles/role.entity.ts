import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** A named set of permissions (`ADMIN` and `USER` are seeded by the migration). */
export const RoleSchema = defineEntity({
  name: 'Role',
  tableName: 'roles',
  schema: 'identity',
  properties: {
    name: p.text().primary(),
    description: p.text().default(''),
    permissions: p.array().columnType('text[]'),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    updatedAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
  },
});

export type Role = InferEntity<typeof RoleSchema>;
