import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, pageQuery, protectedErrorResponses } from '../../http/schemas.ts';
import type { AuthHooks } from '../auth/auth.hooks.ts';
import { requestContext } from '../context.ts';
import { principalOf } from '../auth/auth.hooks.ts';
import { createUserBody, patchUserBody, setRolesBody, userJson, userSchema } from './user.schemas.ts';
import type { UserService } from './user.service.ts';

export interface UserRouteDeps {
  readonly hooks: AuthHooks;
  readonly userService: UserService;
}

const tags = ['users'];
const notFound = { 404: errorEnvelopeSchema };

/** `/api/v1/users`: reading needs `users:read` (or being that user), changes need `users:admin`, role changes `roles:admin` (see grants.ts). */
export function userRoutes(deps: UserRouteDeps): FastifyPluginAsyncZod {
  const { hooks, userService } = deps;
  const admin = hooks.requirePermission('users:admin');
  return async (app) => {
    app.get(
      '',
      {
        preHandler: hooks.requirePermission('users:read'),
        schema: { tags, summary: 'List users', security: bearerAuth, querystring: pageQuery, response: { 200: pageOf(userSchema, 'UserPage'), ...protectedErrorResponses } },
      },
      async (request) => {
        const { limit, offset } = request.query;
        const page = await userService.list({ limit, offset });
        return { items: page.items.map(userJson), total: page.total, limit, offset };
      },
    );

    app.post(
      '',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Create a user (roles default to USER)',
          description: 'Explicit `roles` need `roles:admin`; no one creates an account holding a permission they lack (403).',
          security: bearerAuth,
          body: createUserBody,
          response: { 201: userSchema, 409: errorEnvelopeSchema, ...protectedErrorResponses },
        },
      },
      async (request, reply) => {
        const { is_active, ...rest } = request.body;
        const user = await userService.create({ ...rest, isActive: is_active }, principalOf(request), requestContext(request));
        return reply.status(201).send(userJson(user));
      },
    );

    app.get(
      '/:id',
      {
        preHandler: hooks.authenticate,
        schema: { tags, summary: 'One user (any user may read their own account)', security: bearerAuth, params: idParams, response: { 200: userSchema, ...notFound, ...protectedErrorResponses } },
      },
      async (request) => {
        if (principalOf(request).id !== request.params.id) await hooks.authorize(request, 'users:read');
        return userJson(await userService.get(request.params.id));
      },
    );

    app.patch(
      '/:id',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Change username, email, password or active flag',
          description: 'Deactivation and password changes revoke the user’s sessions and access tokens.',
          security: bearerAuth,
          params: idParams,
          body: patchUserBody,
          response: { 200: userSchema, 409: errorEnvelopeSchema, ...notFound, ...protectedErrorResponses },
        },
      },
      async (request) => {
        const { is_active, ...rest } = request.body;
        return userJson(await userService.update(request.params.id, { ...rest, isActive: is_active }, principalOf(request), requestContext(request)));
      },
    );

    app.delete(
      '/:id',
      {
        preHandler: admin,
        schema: { tags, summary: 'Delete a user', security: bearerAuth, params: idParams, response: { 204: z.null().describe('Deleted'), 409: errorEnvelopeSchema, ...notFound, ...protectedErrorResponses } },
      },
      async (request, reply) => {
        await userService.delete(request.params.id, principalOf(request), requestContext(request));
        return reply.status(204).send(null);
      },
    );

    app.put(
      '/:id/roles',
      {
        preHandler: hooks.requirePermission('roles:admin'),
        schema: {
          tags,
          summary: "Replace the user's roles (roles:admin)",
          description:
            'Needs `roles:admin`, and only roles whose permissions the caller holds, on an account holding no permission the caller lacks (403 otherwise). ' +
            'Revokes the user’s sessions and access tokens: the new roles apply from the next login.',
          security: bearerAuth,
          params: idParams,
          body: setRolesBody,
          response: { 200: userSchema, 409: errorEnvelopeSchema, ...notFound, ...protectedErrorResponses },
        },
      },
      async (request) => userJson(await userService.setRoles(request.params.id, request.body.roles, principalOf(request), requestContext(request))),
    );
  };
}
