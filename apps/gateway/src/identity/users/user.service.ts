import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '@csda/errors';
import type { Principal } from '@csda/auth';
import type { IdentityDeps, RequestContext } from '../context.ts';
import { assertPasswordPolicy } from '../passwords.ts';
import type { IdentityRepositories } from '../repositories.ts';
import type { RoleRecord } from '../roles/role.repository.ts';
import { createGrantGuard } from './grants.ts';
import type { UserChanges, UserRecord } from './user.repository.ts';

export interface NewUserInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly roles?: readonly string[];
  readonly isActive?: boolean;
}

export interface UserPatch {
  readonly username?: string;
  readonly email?: string;
  readonly password?: string;
  readonly isActive?: boolean;
}

/** Never left without an active holder. */
export const ADMIN_ROLE = 'ADMIN';

type UserDeps = Pick<IdentityDeps, 'repositories' | 'passwords' | 'revocation' | 'audit' | 'now'>;

/** The role a user created without explicit roles gets. */
export const DEFAULT_USER_ROLE = 'USER';

/**
 * Administration of users and their roles. Deactivation, deletion, role and
 * password changes revoke the user's refresh tokens and, through the deny
 * list, every access token issued before the change.
 */
export function createUserService(deps: UserDeps) {
  const existing = async (repos: IdentityRepositories, id: string): Promise<UserRecord> => {
    const user = await repos.users.findById(id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  };

  const grants = createGrantGuard(deps);

  const existingRoles = async (repos: IdentityRepositories, roles: readonly string[]): Promise<RoleRecord[]> => {
    const records = await repos.roles.findByNames(roles);
    const found = new Set(records.map((r) => r.name));
    const unknown = roles.filter((r) => !found.has(r));
    if (unknown.length) throw new ValidationError(`Unknown role: ${unknown.join(', ')}`, { roles: `unknown: ${unknown.join(', ')}` });
    return records;
  };

  /**
   * Runs a change to user `id` in one transaction: under the administrators'
   * lock when `mayLoseAdmin` (so the last-admin check and the change are
   * atomic against other such changes), then under the user's row lock (so a
   * concurrent refresh or login cannot issue a token from the old state).
   * `work` gets the user as locked and the revocation time to use.
   */
  const change = <T>(id: string, mayLoseAdmin: boolean, work: (tx: IdentityRepositories, user: UserRecord, atMs: number) => Promise<T>): Promise<T> =>
    deps.repositories().transaction(async (tx) => {
      if (mayLoseAdmin) await tx.users.lockAdministrators();
      if (!(await tx.users.lockForUpdate(id))) throw new NotFoundError('user', id);
      // Taken under the locks: a token read before this instant is revoked, one read after sees the change.
      const atMs = deps.now();
      return work(tx, await existing(tx, id), atMs);
    });

  /**
   * After the commit: every access token of the user read at or before
   * `atMs` (the instant taken under the locks) dies. A token read in that
   * same millisecond may predate the change, so it goes too: at worst a
   * login racing the change has to sign in again.
   */
  const revokeAccessTokens = (id: string, atMs: number) => deps.revocation.revokeUser(id, atMs + 1);

  /** Refuses a change that would leave no active administrator. Call under lockAdministrators. */
  const keepAnAdmin = async (repos: IdentityRepositories, user: UserRecord, losesAdmin: boolean) => {
    if (!losesAdmin || !user.isActive || !user.roles.includes(ADMIN_ROLE)) return;
    if ((await repos.users.countActiveWithRole(ADMIN_ROLE, user.id)) === 0) {
      throw new ConflictError('The last active administrator cannot lose that role', { user_id: user.id });
    }
  };

  const fact = (actor: Principal, ctx: RequestContext, action: string, userId: string, details?: Record<string, string>) => ({
    action,
    actor: actor.id,
    actorName: actor.name,
    resourceType: 'user',
    resourceId: userId,
    ip: ctx.ip,
    requestId: ctx.requestId,
    ...(details ? { details } : {}),
  });

  return {
    async list(page: { limit: number; offset: number }) {
      return deps.repositories().users.list(page);
    },

    async get(id: string): Promise<UserRecord> {
      return existing(deps.repositories(), id);
    },

    async create(input: NewUserInput, actor: Principal, ctx: RequestContext): Promise<UserRecord> {
      assertPasswordPolicy(input.password);
      const repos = deps.repositories();
      // Explicit roles are a grant (roles:admin); the default one is not, but
      // either way no one creates an account holding a permission they lack.
      if (input.roles !== undefined) await grants.assertMayAssignRoles(actor, ctx);
      const roles = [...new Set(input.roles ?? [DEFAULT_USER_ROLE])];
      await grants.assertMayGrant(repos, actor, await existingRoles(repos, roles), ctx);
      const passwordHash = await deps.passwords.hash(input.password);
      return repos.transaction(async (tx) => {
        const user = await tx.users.create({ id: randomUUID(), username: input.username, email: input.email, passwordHash, isActive: input.isActive ?? true, roles });
        await tx.audit(fact(actor, ctx, 'user_created', user.id, { roles: roles.join(','), is_active: String(user.isActive) }));
        return user;
      });
    },

    async update(id: string, patch: UserPatch, actor: Principal, ctx: RequestContext): Promise<UserRecord> {
      if (patch.password !== undefined) assertPasswordPolicy(patch.password);
      // Hashing is slow: done before any lock is taken.
      const passwordHash = patch.password === undefined ? undefined : await deps.passwords.hash(patch.password);
      const changes: UserChanges = { username: patch.username, email: patch.email, isActive: patch.isActive, passwordHash };
      const fields = Object.entries({ username: patch.username, email: patch.email, is_active: patch.isActive, password: patch.password })
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k);
      const { updated, revokeAt } = await change(id, patch.isActive === false, async (tx, user, atMs) => {
        await grants.assertMayAdminister(tx, actor, user, ctx);
        await keepAnAdmin(tx, user, patch.isActive === false);
        const updated = (await tx.users.update(id, changes)) ?? (await existing(tx, id));
        const deactivated = user.isActive && !updated.isActive;
        const revoke = deactivated || passwordHash !== undefined;
        if (revoke) await tx.refreshTokens.revokeAllForUser(id, new Date(atMs));
        await tx.audit(fact(actor, ctx, 'user_updated', id, { fields: fields.join(','), ...(deactivated ? { deactivated: 'true' } : {}) }));
        return { updated, revokeAt: revoke ? atMs : undefined };
      });
      if (revokeAt !== undefined) await revokeAccessTokens(id, revokeAt);
      return updated;
    },

    async delete(id: string, actor: Principal, ctx: RequestContext): Promise<void> {
      const { revokeAt } = await change(id, true, async (tx, user, atMs) => {
        await grants.assertMayAdminister(tx, actor, user, ctx);
        await keepAnAdmin(tx, user, true);
        // Refresh tokens go with the row (cascade).
        if (!(await tx.users.delete(id))) throw new NotFoundError('user', id);
        await tx.audit(fact(actor, ctx, 'user_deleted', id, { username: user.username }));
        return { revokeAt: atMs };
      });
      // Access tokens die through the deny list.
      await revokeAccessTokens(id, revokeAt);
    },

    async setRoles(id: string, roles: readonly string[], actor: Principal, ctx: RequestContext): Promise<UserRecord> {
      const wanted = [...new Set(roles)].sort();
      await grants.assertMayAssignRoles(actor, ctx, id);
      const records = await existingRoles(deps.repositories(), wanted);
      const losesAdmin = !wanted.includes(ADMIN_ROLE);
      const { updated, revokeAt } = await change(id, losesAdmin, async (tx, user, atMs) => {
        // Both the roles handed out and the account they replace must be within the actor's own permissions.
        await grants.assertMayGrant(tx, actor, records, ctx, id);
        await grants.assertMayAdminister(tx, actor, user, ctx);
        await keepAnAdmin(tx, user, losesAdmin);
        await tx.users.setRoles(id, wanted);
        await tx.refreshTokens.revokeAllForUser(id, new Date(atMs));
        await tx.audit(fact(actor, ctx, 'user_roles_changed', id, { previous: [...user.roles].sort().join(','), roles: wanted.join(',') }));
        return { updated: await existing(tx, id), revokeAt: atMs };
      });
      await revokeAccessTokens(id, revokeAt);
      return updated;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
