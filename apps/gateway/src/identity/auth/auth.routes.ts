import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { bearerAuth, commonErrorResponses, errorEnvelopeSchema } from '../../http/schemas.ts';
import type { AuthHooks } from './auth.hooks.ts';
import { principalOf } from './auth.hooks.ts';
import { requestContext } from '../context.ts';
import type { AuthService } from './auth.service.ts';
import { userJson, userSchema } from '../users/user.schemas.ts';
import { loginBody, meSchema, refreshBody, registerBody, tokenJson, tokenPairSchema } from './auth.schemas.ts';

export interface AuthRouteDeps {
  readonly hooks: Pick<AuthHooks, 'authenticate'>;
  readonly authService: AuthService;
}

const tags = ['auth'];

/** `/api/v1/auth`: register, login, refresh, logout, me. */
export function authRoutes(deps: AuthRouteDeps): FastifyPluginAsyncZod {
  const { authService } = deps;
  return async (app) => {
    app.post(
      '/register',
      {
        schema: {
          tags,
          summary: 'Create an account with role USER (when registration is enabled)',
          body: registerBody,
          response: { 201: userSchema, 403: errorEnvelopeSchema, 409: errorEnvelopeSchema, ...commonErrorResponses },
        },
      },
      async (request, reply) => {
        const user = await authService.register(request.body, requestContext(request));
        return reply.status(201).send(userJson(user));
      },
    );

    app.post(
      '/login',
      {
        schema: {
          tags,
          summary: 'Exchange username (or email) and password for an access and a refresh token',
          description:
            'Unknown user, wrong password and inactive account all answer AUTHENTICATION_ERROR "Invalid credentials". ' +
            'Failed logins back off per account and client address (IPv6: per /64) with a growing wait (RATE_LIMITED with a Retry-After header); ' +
            'a success resets that client. Failures on one account from many addresses refuse new addresses but only slow ones it logged in from recently.',
          body: loginBody,
          response: { 200: tokenPairSchema, 401: errorEnvelopeSchema, 429: errorEnvelopeSchema, ...commonErrorResponses },
        },
      },
      async (request) => tokenJson(await authService.login(request.body.username, request.body.password, requestContext(request))),
    );

    app.post(
      '/refresh',
      {
        schema: {
          tags,
          summary: 'Rotate a refresh token: returns a new pair; the presented token is spent',
          description:
            'Presenting a spent refresh token again revokes its whole family (every token of that login), except by the same client ' +
            '(address and user agent) within REFRESH_REUSE_GRACE_S, which gets another token of the family (concurrent refreshes). ' +
            'A family ends REFRESH_FAMILY_MAX_AGE_S after its login.',
          body: refreshBody,
          response: { 200: tokenPairSchema, 401: errorEnvelopeSchema, ...commonErrorResponses },
        },
      },
      async (request) => tokenJson(await authService.refresh(request.body.refresh_token, requestContext(request))),
    );

    app.post(
      '/logout',
      {
        schema: {
          tags,
          summary: "Revoke the refresh token's family and the access tokens issued with it",
          body: refreshBody,
          response: { 204: z.null().describe('Logged out'), 401: errorEnvelopeSchema, ...commonErrorResponses },
        },
      },
      async (request, reply) => {
        await authService.logout(request.body.refresh_token, requestContext(request));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/me',
      {
        preHandler: deps.hooks.authenticate,
        schema: { tags, summary: 'The authenticated account with its effective permissions', security: bearerAuth, response: { 200: meSchema, 401: errorEnvelopeSchema, ...commonErrorResponses } },
      },
      async (request) => {
        const { user, permissions } = await authService.me(principalOf(request));
        return { ...userJson(user), permissions };
      },
    );
  };
}
