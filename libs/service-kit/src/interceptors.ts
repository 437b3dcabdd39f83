import type { Interceptor } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { CLIENT_IP_HEADER, principalKey, REQUEST_ID_HEADER } from '@csda/auth';
import { AuthorizationError, toConnectError } from '@csda/errors';
import type { AuditFact } from './audit.ts';
import type { Logger } from 'pino';
import { SpanKind, extractTraceContext, injectTraceContext, withSpan } from './telemetry.ts';

/**
 * Server side, outermost: continues the caller's trace, logs the outcome of
 * each RPC, and turns any thrown error into a ConnectError with a CSDA
 * ErrorDetail (internals hidden unless `exposeInternals`). The original error
 * is logged here, once, and never sent to the caller.
 */
export function serverInterceptor(logger: Logger, exposeInternals: boolean): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    return withSpan(method, SpanKind.SERVER, extractTraceContext(req.header), async () => {
      const started = performance.now();
      try {
        const res = await next(req);
        logger.debug({ method, ms: elapsed(started) }, 'rpc ok');
        return res;
      } catch (err) {
        const connectErr = toConnectError(err, exposeInternals);
        const level = connectErr.code === 13 /* Internal */ || connectErr.code === 2 /* Unknown */ ? 'error' : 'info';
        logger[level]({ method, ms: elapsed(started), code: connectErr.code, err: err instanceof Error ? err : undefined }, 'rpc failed');
        throw connectErr;
      }
    });
  };
}

/** Client side: every outgoing RPC carries the active trace context. */
export const traceClientInterceptor: Interceptor = (next) => async (req) => {
  const method = `${req.service.typeName}/${req.method.name}`;
  return withSpan(method, SpanKind.CLIENT, extractTraceContext(req.header), async () => {
    injectTraceContext(req.header);
    return next(req);
  });
};

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export { ConnectError };

/**
 * Innermost, after the internal-auth check: a call refused for lack of
 * permission (AuthorizationError / PermissionDenied) is recorded with `record`
 * (the service's audit outbox) before the refusal goes back. A failure to
 * record is logged; the caller still gets the refusal.
 */
export function permissionDeniedAuditInterceptor(record: (fact: AuditFact) => Promise<void>, logger: Logger, self: string): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const denied = err instanceof AuthorizationError || (err instanceof ConnectError && err.code === Code.PermissionDenied);
      if (denied) {
        const principal = req.contextValues.get(principalKey);
        const details: Record<string, string> = { procedure: `${req.service.typeName}/${req.method.name}`, reason: err instanceof Error ? err.message.slice(0, 200) : 'denied' };
        // A service records only its own actions (the audit consumer refuses anything else): another
        // service refused here is named as the caller of this service's refusal.
        const foreignService = principal?.kind === 'service' && principal.id !== `service:${self}`;
        if (foreignService) {
          details.caller = principal.id;
          if (principal.onBehalfOf) details.on_behalf_of = principal.onBehalfOf.id;
        }
        const fact: AuditFact = {
          action: 'permission_denied',
          actor: foreignService ? `service:${self}` : (principal?.id ?? 'anonymous'),
          actorName: foreignService ? self : principal?.name,
          outcome: 'failure',
          requestId: req.header.get(REQUEST_ID_HEADER) ?? undefined,
          ip: req.header.get(CLIENT_IP_HEADER) ?? undefined,
          details,
        };
        await record(fact).catch((auditErr: unknown) => logger.warn({ err: auditErr }, 'could not record a permission denial'));
      }
      throw err;
    }
  };
}
