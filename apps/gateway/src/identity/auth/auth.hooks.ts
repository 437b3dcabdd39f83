import { AuthenticationError, AuthorizationError } from '@csda/errors';
import { hasPermission, type Permission, type Principal } from '@csda/auth';
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { requestContext, type Audit } from '../context.ts';
import type { Revocation } from './revocation.ts';
import type { AccessTokens } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticate` (and `requirePermission`) from the bearer access token. */
    principal?: Principal;
  }
}

/** A Fastify preHandler; throws AppErrors, which the error handler renders as the envelope. */
export type AuthPreHandler = preHandlerAsyncHookHandler;

export interface AuthHooks {
  /** 401 AUTHENTICATION_ERROR unless the request carries a valid, unrevoked bearer access token; sets `request.principal`. */
  readonly authenticate: AuthPreHandler;
  /** Authenticates (if not done yet), then 403 AUTHORIZATION_ERROR unless the principal holds `permission`. */
  requirePermission(permission: Permission): AuthPreHandler;
  /** The same check inside a handler (after `authenticate`): 403, audited, unless the principal holds `permission`. */
  authorize(request: FastifyRequest, permission: Permission): Promise<void>;
}

export interface AuthHookDeps {
  readonly accessTokens: Pick<AccessTokens, 'verify'>;
  readonly revocation: Pick<Revocation, 'isRevoked'>;
  /** Every 403 is recorded as `permission_denied` (actor, route, required permission). */
  readonly audit: Audit;
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)[ ]*$/i;

/**
 * The authenticated hot path: verify the JWT (HS256 only) and ask the deny
 * list (cached in-process); no database. The token's claims are trusted for
 * its short life.
 */
export function createAuthHooks(deps: AuthHookDeps): AuthHooks {
  const authenticate = async (request: FastifyRequest): Promise<void> => {
    if (request.principal) return;
    const header = request.headers.authorization;
    if (!header) throw new AuthenticationError('Authentication required');
    const token = BEARER.exec(header)?.[1];
    if (!token) throw new AuthenticationError('Invalid authorization header: expected a bearer token');
    const verified = await deps.accessTokens.verify(token);
    if (await deps.revocation.isRevoked({ userId: verified.principal.id, sessionId: verified.sessionId, issuedAtMs: verified.issuedAtMs })) {
      throw new AuthenticationError('Access token revoked');
    }
    request.principal = verified.principal;
  };
  const authorize = async (request: FastifyRequest, permission: Permission): Promise<void> => {
    await authenticate(request);
    const principal = principalOf(request);
    if (hasPermission(principal, permission)) return;
    const ctx = requestContext(request);
    await deps.audit({
      action: 'permission_denied',
      actor: principal.id,
      actorName: principal.name,
      outcome: 'failure',
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { reason: 'missing_permission', route: ctx.route ?? '', required: permission },
    });
    throw new AuthorizationError(`Permission ${permission} required`);
  };
  return {
    authenticate,
    authorize,
    requirePermission(permission) {
      return async (request: FastifyRequest, _reply: FastifyReply) => authorize(request, permission);
    },
  };
}

/** The principal a preceding `authenticate` set; throws 401 when there is none (a route wired without it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AuthenticationError('Authentication required');
  return request.principal;
}
