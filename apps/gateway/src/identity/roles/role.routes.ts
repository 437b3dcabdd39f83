import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerAuth, pageOf, pageQuery, protectedErrorResponses } from '../../http/schemas.ts';
import type { AuthHooks } from '../auth/auth.hooks.ts';
import { roleJson, roleSchema } from './role.schemas.ts';
import type { RoleService } from './role.service.ts';

export interface RoleRouteDeps {
  readonly hooks: Pick<AuthHooks, 'requirePermission'>;
  readonly roleService: RoleService;
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
      async (request) => {
        const { limit, offset } = request.query;
        const roles = await deps.roleService.list();
        return { items: roles.slice(offset, offset + limit).map(roleJson), total: roles.length, limit, offset };
      },
    );
  };
}
