import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { uncached, type Cached } from '../../cache/response-cache.ts';
import { bearerAuth, pageOf, pageQuery, protectedErrorResponses } from '../../http/schemas.ts';
import type { AuthHooks } from '../auth/auth.hooks.ts';
import { roleJson, roleSchema } from './role.schemas.ts';
import type { RoleService } from './role.service.ts';

export interface RoleRouteDeps {
  readonly hooks: Pick<AuthHooks, 'requirePermission'>;
  readonly roleService: RoleService;
  /** Wraps the cached role list (the same for every caller holding roles:read); default: no cache. */
  readonly cached?: Cached;
}

/** `/api/v1/roles` (`roles:read`). */
export function roleRoutes(deps: RoleRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '',
      {
        preHandler: deps.hooks.requirePermission('roles:read'),
        schema: { tags: ['roles'], summary: 'Roles and their permissions', security: bearerAuth, querystring: pageQuery, response: { 200: pageOf(roleSchema, 'RolePage'), ...protectedErrorResponses } },
      },
      (deps.cached ?? uncached)({ family: 'roles', scope: 'public' }, async (request) => {
        const { limit, offset } = request.query;
        const roles = await deps.roleService.list();
        return { items: roles.slice(offset, offset + limit).map(roleJson), total: roles.length, limit, offset };
      }),
    );
  };
}
