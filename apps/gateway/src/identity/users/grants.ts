import { AuthorizationError } from '@csda/errors';
import { hasPermission, type Principal } from '@csda/auth';
import type { IdentityDeps, RequestContext } from '../context.ts';
import type { IdentityRepositories } from '../repositories.ts';
import { permissionsOf } from '../roles/role.permissions.ts';
import type { RoleRecord } from '../roles/role.repository.ts';
import type { UserRecord } from './user.repository.ts';

export type DenialReason = 'roles_admin_required' | 'grant_exceeds_own_permissions' | 'target_more_privileged' | 'actor_inactive';

const MESSAGES: Record<DenialReason, string> = {
  roles_admin_required: 'Permission roles:admin required',
  grant_exceeds_own_permissions: 'Cannot grant a role carrying permissions you do not hold',
  target_more_privileged: 'Cannot administer an account holding permissions you do not hold',
  actor_inactive: 'Account is no longer active',
};

/**
 * Who may hand out which roles. The rules (no self-escalation by a delegated
 * user admin):
 * - assigning roles explicitly (creation with `roles`, `PUT …/roles`) needs `roles:admin`;
 * - no one grants a role carrying a permission they do not hold themselves;
 * - no one administers (edits, deactivates, deletes, re-roles) an account
 *   holding a permission they lack, so a user admin cannot reset an ADMIN's
 *   password and log in as them.
 * The actor's permissions are read fresh from the database, not from the
 * token. Every refusal is a 403 and is audited as `permission_denied`.
 */
export function createGrantGuard(deps: Pick<IdentityDeps, 'audit'>) {
  const deny = async (actor: Principal, ctx: RequestContext, reason: DenialReason, required: readonly string[], target?: string): Promise<never> => {
    await deps.audit({
      action: 'permission_denied',
      actor: actor.id,
      actorName: actor.name,
      outcome: 'failure',
      ...(target ? { resourceType: 'user', resourceId: target } : {}),
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { reason, required: required.join(','), ...(ctx.route ? { route: ctx.route } : {}) },
    });
    throw new AuthorizationError(`${MESSAGES[reason]}${required.length ? ` (${required.join(', ')})` : ''}`);
  };

  const ownPermissions = async (repos: IdentityRepositories, actor: Principal, ctx: RequestContext): Promise<ReadonlySet<string>> => {
    const me = await repos.users.findById(actor.id);
    if (!me || !me.isActive) return deny(actor, ctx, 'actor_inactive', []);
    return new Set(permissionsOf(await repos.roles.findByNames(me.roles)));
  };
  const missing = (own: ReadonlySet<string>, wanted: readonly string[]) => wanted.filter((p) => !own.has(p));

  return {
    /** Explicit role assignment needs `roles:admin` (checked on the token; the route checks it too). */
    async assertMayAssignRoles(actor: Principal, ctx: RequestContext, target?: string): Promise<void> {
      if (!hasPermission(actor, 'roles:admin')) await deny(actor, ctx, 'roles_admin_required', ['roles:admin'], target);
    },
    /** Refuses unless the actor holds every permission of `roles`. */
    async assertMayGrant(repos: IdentityRepositories, actor: Principal, roles: readonly RoleRecord[], ctx: RequestContext, target?: string): Promise<void> {
      const lacking = missing(await ownPermissions(repos, actor, ctx), permissionsOf(roles));
      if (lacking.length) await deny(actor, ctx, 'grant_exceeds_own_permissions', lacking, target);
    },
    /** Refuses unless the actor holds every permission `target` currently holds. */
    async assertMayAdminister(repos: IdentityRepositories, actor: Principal, target: UserRecord, ctx: RequestContext): Promise<void> {
      const lacking = missing(await ownPermissions(repos, actor, ctx), permissionsOf(await repos.roles.findByNames(target.roles)));
      if (lacking.length) await deny(actor, ctx, 'target_more_privileged', lacking, target.id);
    },
  };
}

export type GrantGuard = ReturnType<typeof createGrantGuard>;
