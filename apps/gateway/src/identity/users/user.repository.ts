import { ConflictError } from '@csda/errors';
import { UniqueConstraintViolationException, sql } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { UserRoleSchema, UserSchema, type User } from './user.entity.ts';

/** A user as the services see it: the row plus the names of the roles held. */
export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly isActive: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly lastLoginAt: Date | null;
  readonly roles: readonly string[];
}

export interface NewUser {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly isActive: boolean;
  readonly roles: readonly string[];
}

export interface UserChanges {
  readonly username?: string;
  readonly email?: string;
  readonly passwordHash?: string;
  readonly isActive?: boolean;
}

/** Turns a unique violation on username or email into CONFLICT; rethrows the rest. */
function conflictOr(err: unknown): never {
  if (err instanceof UniqueConstraintViolationException) {
    if (err.message.includes('users_email_lower_unique')) throw new ConflictError('Email is already registered', { field: 'email' });
    if (err.message.includes('users_username_lower_unique')) throw new ConflictError('Username is already taken', { field: 'username' });
  }
  throw err;
}

/** The only place that touches `identity.users` and `identity.user_roles`. */
export function createUserRepository(em: EntityManager) {
  const rolesOf = async (ids: readonly string[]): Promise<Map<string, string[]>> => {
    const map = new Map<string, string[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return map;
    const rows = await em.find(UserRoleSchema, { userId: { $in: [...ids] } }, { orderBy: { roleName: 'asc' } });
    for (const row of rows) map.get(row.userId)?.push(row.roleName);
    return map;
  };
  const withRoles = async (users: readonly User[]): Promise<UserRecord[]> => {
    const roles = await rolesOf(users.map((u) => u.id));
    return users.map((u) => ({
      id: u.id,
      username: u.username,
      email: u.email,
      passwordHash: u.passwordHash,
      isActive: u.isActive,
      createdAt: u.createdAt,
      updatedAt: u.updatedAt,
      lastLoginAt: u.lastLoginAt ?? null,
      roles: roles.get(u.id) ?? [],
    }));
  };
  const one = async (user: User | null) => (user ? ((await withRoles([user]))[0] ?? null) : null);

  const repository = {
    async findById(id: string): Promise<UserRecord | null> {
      return one(await em.findOne(UserSchema, { id }, { disableIdentityMap: true }));
    },
    /** The users of `ids` that exist, in no particular order. */
    async findByIds(ids: readonly string[]): Promise<UserRecord[]> {
      if (ids.length === 0) return [];
      return withRoles(await em.find(UserSchema, { id: { $in: [...ids] } }, { disableIdentityMap: true }));
    },
    /** By username, or by email when `login` contains `@`; case-insensitive. */
    async findByLogin(login: string): Promise<UserRecord | null> {
      const column = login.includes('@') ? 'email' : 'username';
      return one(await em.findOne(UserSchema, { [sql.lower(column)]: login.toLowerCase() }, { disableIdentityMap: true }));
    },
    async list(page: { limit: number; offset: number }): Promise<{ items: UserRecord[]; total: number }> {
      const [users, total] = await em.findAndCount(UserSchema, {}, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: page.limit, offset: page.offset, disableIdentityMap: true });
      return { items: await withRoles(users), total };
    },
    /** Inserts the user and their roles in one transaction; CONFLICT on a taken username or email. */
    async create(user: NewUser): Promise<UserRecord> {
      await em
        .transactional(async (tx) => {
          await tx.insert(UserSchema, { id: user.id, username: user.username, email: user.email, passwordHash: user.passwordHash, isActive: user.isActive });
          if (user.roles.length) await tx.insertMany(UserRoleSchema, user.roles.map((roleName) => ({ userId: user.id, roleName })));
        })
        .catch(conflictOr);
      const created = await repository.findById(user.id);
      if (!created) throw new Error(`user ${user.id} vanished after insert`);
      return created;
    },
    /** Applies the changes; null when there is no such user. */
    async update(id: string, changes: UserChanges): Promise<UserRecord | null> {
      const data = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
      const updated = await em.nativeUpdate(UserSchema, { id }, { ...data, updatedAt: new Date() }).catch(conflictOr);
      return updated ? repository.findById(id) : null;
    },
    async delete(id: string): Promise<boolean> {
      return (await em.nativeDelete(UserSchema, { id })) > 0;
    },
    /** Replaces the user's roles (names must exist: the foreign key holds them). */
    async setRoles(userId: string, roles: readonly string[]): Promise<void> {
      await em.transactional(async (tx) => {
        await tx.nativeDelete(UserRoleSchema, { userId });
        if (roles.length) await tx.insertMany(UserRoleSchema, roles.map((roleName) => ({ userId, roleName })));
        await tx.nativeUpdate(UserSchema, { id: userId }, { updatedAt: new Date() });
      });
    },
    async recordLogin(id: string, at: Date): Promise<void> {
      await em.nativeUpdate(UserSchema, { id }, { lastLoginAt: at });
    },
    /**
     * Locks the user's row until the transaction ends (`select … for update`);
     * false when there is no such user. Every path that issues refresh tokens
     * and every change that revokes them takes this lock first, so they
     * serialize: no token is issued from a state a concurrent change revoked.
     * Only meaningful inside `transaction`.
     */
    async lockForUpdate(id: string): Promise<boolean> {
      const rows = await em.execute<{ id: string }[]>('select "id" from "identity"."users" where "id" = ? for update', [id]);
      return rows.length > 0;
    },
    /**
     * Serializes changes that could remove an active administrator, until the
     * transaction ends (transaction-level advisory lock). Take it before any
     * row lock. Only meaningful inside `transaction`.
     */
    async lockAdministrators(): Promise<void> {
      await em.execute(`select pg_advisory_xact_lock(hashtext('csda.identity.admins'))`);
    },
    /** Active users holding `role`, not counting `exceptUserId`. */
    async countActiveWithRole(role: string, exceptUserId?: string): Promise<number> {
      const holders = (await em.find(UserRoleSchema, { roleName: role }, { fields: ['userId'], disableIdentityMap: true })).map((r) => r.userId);
      const others = holders.filter((id) => id !== exceptUserId);
      return others.length ? em.count(UserSchema, { id: { $in: others }, isActive: true }) : 0;
    },
  };
  return repository;
}

export type UserRepository = ReturnType<typeof createUserRepository>;
