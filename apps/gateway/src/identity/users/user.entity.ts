import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** An account. Username and email are unique case-insensitively (indexes on lower()). */
export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  schema: 'identity',
  properties: {
    id: p.uuid().primary(),
    username: p.text(),
    email: p.text(),
    passwordHash: p.text(),
    isActive: p.boolean().default(true),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    updatedAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    lastLoginAt: p.datetime().columnType('timestamptz').nullable(),
  },
});

export type User = InferEntity<typeof UserSchema>;

/** Which roles a user holds. */
export const UserRoleSchema = defineEntity({
  name: 'UserRole',
  tableName: 'user_roles',
  schema: 'identity',
  properties: {
    userId: p.uuid().primary(),
    roleName: p.text().primary(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
  },
});

export type UserRole = InferEntity<typeof UserRoleSchema>;
