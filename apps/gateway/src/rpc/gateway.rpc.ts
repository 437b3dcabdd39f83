import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { AuthorizationError, ValidationError } from '@csda/errors';
import type { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import type { IdentityDeps } from '../identity/context.ts';
import type { SessionPurge } from '../identity/auth/session-purge.ts';
import { permissionsOf } from '../identity/roles/role.permissions.ts';

/** The only caller of GetUsers and PurgeSessions: the scheduler, on its own behalf. */
export const SCHEDULER_PRINCIPAL_ID = 'service:scheduler';
/** Most ids one GetUsers call may name. */
export const GET_USERS_MAX_IDS = 1_000;
/** How far ahead of this gateway's clock a PurgeSessions `now_ms` may be (clock skew, not a licence to purge live tokens). */
export const PURGE_MAX_SKEW_MS = 5 * 60 * 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Refuses every principal but the scheduler's own identity (a token its key
 * signed naming service:scheduler, acting for nobody): not a user, however
 * privileged, nor another service. PERMISSION_DENIED otherwise.
 */
export function requireScheduler(principal: Principal): void {
  if (principal.kind !== 'service' || principal.id !== SCHEDULER_PRINCIPAL_ID || principal.onBehalfOf !== undefined || principal.scope !== undefined) {
    throw new AuthorizationError('Only the scheduler service may call this');
  }
}

type GatewayRpcDeps = Pick<IdentityDeps, 'repositories' | 'now'> & { readonly sessions: Pick<SessionPurge, 'purge'> };

/** GetUsers and PurgeSessions (GetInfo is the service kit's). */
export function createGatewayRpc(deps: GatewayRpcDeps): Pick<ServiceImpl<typeof GatewayService>, 'getUsers' | 'purgeSessions'> {
  return {
    async getUsers(req, ctx) {
      requireScheduler(principalFrom(ctx));
      const ids = [...new Set(req.ids)];
      if (ids.length > GET_USERS_MAX_IDS) throw new ValidationError(`At most ${GET_USERS_MAX_IDS} ids`, { ids: `at most ${GET_USERS_MAX_IDS}` });
      const bad = ids.find((id) => !UUID.test(id));
      if (bad !== undefined) throw new ValidationError('Every id must be a UUID', { ids: 'each a UUID' });
      const repos = deps.repositories();
      const users = await repos.users.findByIds(ids);
      const roles = await repos.roles.findByNames([...new Set(users.flatMap((u) => u.roles))]);
      const byName = new Map(roles.map((r) => [r.name, r]));
      return {
        users: users.map((u) => ({
          id: u.id,
          username: u.username,
          isActive: u.isActive,
          roles: [...u.roles],
          permissions: permissionsOf(u.roles.flatMap((name) => byName.get(name) ?? [])),
        })),
      };
    },

    async purgeSessions(req, ctx) {
      const principal = principalFrom(ctx);
      requireScheduler(principal);
      const nowMs = req.nowMs > 0n ? Number(req.nowMs) : deps.now();
      if (nowMs > deps.now() + PURGE_MAX_SKEW_MS) throw new ValidationError('now_ms is ahead of this service\'s clock', { now_ms: 'not in the future' });
      return { purged: BigInt(await deps.sessions.purge(nowMs, principal.id)) };
    },
  };
}
