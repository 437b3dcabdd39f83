import type { CallOptions } from '@connectrpc/connect';
import { CLIENT_IP_HEADER, principalHeaders, REQUEST_ID_HEADER, type Principal } from '@csda/auth';
import type { FastifyRequest } from 'fastify';

/** Mints the short-lived internal identity token for a principal (the gateway's InternalTokenSigner). */
export interface PrincipalSigner {
  sign(principal: Principal, audience: string): Promise<string>;
}

/**
 * Per-call options for a backend reached on behalf of the REST caller: a
 * token naming the authenticated principal for exactly `audience`, the
 * request id (audit correlation) and the client address.
 */
export function backendCallOptions(signer: PrincipalSigner, audience: string) {
  return async (request: FastifyRequest): Promise<CallOptions> => {
    const principal = request.principal;
    if (!principal) throw new Error(`${audience} route reached without an authenticated principal`);
    return {
      headers: { ...principalHeaders(await signer.sign(principal, audience)), [REQUEST_ID_HEADER]: request.id, [CLIENT_IP_HEADER]: request.ip },
    };
  };
}
