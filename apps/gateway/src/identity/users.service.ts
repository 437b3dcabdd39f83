import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '@csda/errors';
import type { Principal } from '@csda/auth';
import type { IdentityDeps, RequestContext } from './context.ts';
import { assertPasswordPolicy } from './passwords.ts';
import type { IdentityRepositories } from './repositories.ts';
import type { UserChanges, UserRecord } from './users.repository.ts';

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

/**
 * Administration of users and their roles. Deactivation, deletion, role and
 * password changes revoke the user's refresh tokens and, through the deny
 * list, every access token issued before the change.
 */
export function createUserService(deps: UserDeps) {
  const { audit } = deps;

  const existing = async (repos: IdentityRepositories, id: string): Promise<UserRecord> => {
    const user = await repos.users.findById(id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  };

  const assertRolesExist = async (repos: IdentityRepositories, roles: readonly string[]) => {
    const found = new Set((await repos.roles.findByNames(roles)).map((r) => r.name));
    const unknown = roles.filter((r) => !found.has(r));
    if (unknown.length) throw new ValidationError(`Unknown role: ${unknown.join(', ')}`, { roles: `unknown: ${unknown.join(', ')}` });
  };

  /** Refuses a change that would leave no active administrator. */
  const keepAnAdmin = async (repos: IdentityRepositories, user: UserRecord, losesAdmin: boolean) => {
    if (!losesAdmin || !user.isActive || !user.roles.includes(ADMIN_ROLE)) return;
    if ((await repos.users.countActiveWithRole(ADMIN_ROLE, user.id)) === 0) {
      throw new ConflictError('The last active administrator cannot lose that role', { user_id: user.id });
    }
  };

  /** After the database change: kill refresh families, then every access token issued before now. */
  const revokeAccess = async (repos: IdentityRepositories, userId: string) => {
    await repos.refreshTokens.revokeAllForUser(userId, new Date(deps.now()));
    await deps.revocation.revokeUser(userId, deps.now());
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
      const roles = [...new Set(input.roles ?? ['USER'])];
      await assertRolesExist(repos, roles);
      const passwordHash = await deps.passwords.hash(input.password);
      const user = await repos.users.create({ id: randomUUID(), username: input.username, email: input.email, passwordHash, isActive: input.isActive ?? true, roles });
      await audit(fact(actor, ctx, 'user_created', user.id, { roles: roles.join(','), is_active: String(user.isActive) }));
      return user;
    },

    async update(id: string, patch: UserPatch, actor: Principal, ctx: RequestContext): Promise<UserRecord> {
      const repos = deps.repositories();
      const user = await existing(repos, id);
      if (patch.password !== undefined) assertPasswordPolicy(patch.password);
      await keepAnAdmin(repos, user, patch.isActive === false);
      const changes: UserChanges = {
        username: patch.username,
        email: patch.email,
        isActive: patch.isActive,
        passwordHash: patch.password === undefined ? undefined : await deps.passwords.hash(patch.password),
      };
      const fields = Object.entries({ username: patch.username, email: patch.email, is_active: patch.isActive, password: patch.password })
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k);
      const updated = (await repos.users.update(id, changes)) ?? (await existing(repos, id));
      const deactivated = user.isActive && !updated.isActive;
      if (deactivated || patch.password !== undefined) await revokeAccess(repos, id);
      await audit(fact(actor, ctx, 'user_updated', id, { fields: fields.join(','), ...(deactivated ? { deactivated: 'true' } : {}) }));
      return updated;
    },

    async delete(id: string, actor: Principal, ctx: RequestContext): Promise<void> {
      const repos = deps.repositories();
      const user = await existing(repos, id);
      await keepAnAdmin(repos, user, true);
      if (!(await repos.users.delete(id))) throw new NotFoundError('user', id);
      // Refresh tokens went with the row (cascade); access tokens die through the deny list.
      await deps.revocation.revokeUser(id, deps.now());
      await audit(fact(actor, ctx, 'user_deleted', id, { username: user.username }));
    },

    async setRoles(id: string, roles: readonly string[], actor: Principal, ctx: RequestContext): Promise<UserRecord> {
      const repos = deps.repositories();
      const user = await existing(repos, id);
      const wanted = [...new Set(roles)].sort();
      await assertRolesExist(repos, wanted);
      await keepAnAdmin(repos, user, !wanted.includes(ADMIN_ROLE));
      await repos.users.setRoles(id, wanted);
      await revokeAccess(repos, id);
      await audit(fact(actor, ctx, 'user_roles_changed', id, { previous: [...user.roles].sort().join(','), roles: wanted.join(',') }));
      return existing(repos, id);
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
