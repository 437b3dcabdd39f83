import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import type { InternalTokenVerifier } from './internal-token.ts';
import type { Principal } from './permissions.ts';

/** Request header that carries the internal identity token between services. */
export const INTERNAL_TOKEN_HEADER = 'csda-internal-token';
/** Request header carrying the REST request id to the services, for audit correlation. */
export const REQUEST_ID_HEADER = 'csda-request-id';
/** Request header carrying the REST client's address (as the gateway's trusted-proxy rules resolved it). */
export const CLIENT_IP_HEADER = 'csda-client-ip';

/** Connect context value holding the verified caller; set by {@link internalAuthServerInterceptor}. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: 'csda principal' });

const UNAUTHENTICATED = 'Authentication required';

/**
 * Per-call headers naming the caller, for `client.method(req, { headers })`.
 * The gateway uses this with the token it signed for the current user.
 */
export function principalHeaders(token: string): Record<string, string> {
  return { [INTERNAL_TOKEN_HEADER]: token };
}

/**
 * Client interceptor that adds a token to every outgoing request, for
 * service identities (scheduler, one-shot jobs). A token already set on the
 * call (via {@link principalHeaders}) is kept: the per-call identity wins.
 */
export function internalAuthClientInterceptor(tokenFor: () => Promise<string>): Interceptor {
  return (next) => async (req) => {
    if (!req.header.has(INTERNAL_TOKEN_HEADER)) req.header.set(INTERNAL_TOKEN_HEADER, await tokenFor());
    return next(req);
  };
}

/** Options of {@link internalAuthServerInterceptor}. */
export interface InternalAuthServerOptions {
  /** Fully qualified service names callable without a token, e.g. `grpc.health.v1.Health`. */
  readonly exemptServices?: readonly string[];
}

/**
 * Server interceptor: every call to a non-exempt service must carry a valid
 * internal token, else it fails with `Unauthenticated` (a generic message).
 * The verified principal is stored under {@link principalKey}.
 */
export function internalAuthServerInterceptor(
  verifier: Pick<InternalTokenVerifier, 'verify'>,
  options: InternalAuthServerOptions = {},
): Interceptor {
  const exempt: ReadonlySet<string> = new Set(options.exemptServices ?? []);
  return (next) => async (req) => {
    if (exempt.has(req.service.typeName)) return next(req);
    const token = req.header.get(INTERNAL_TOKEN_HEADER);
    if (!token) throw new ConnectError(UNAUTHENTICATED, Code.Unauthenticated);
    let principal: Principal;
    try {
      principal = await verifier.verify(token);
    } catch {
      throw new ConnectError(UNAUTHENTICATED, Code.Unauthenticated);
    }
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}

/** The verified caller of this RPC; throws `Unauthenticated` when there is none. */
export function principalFrom(ctx: Pick<HandlerContext, 'values'>): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError(UNAUTHENTICATED, Code.Unauthenticated);
  return principal;
}
