import type { Interceptor } from '@connectrpc/connect';
import { ConnectError } from '@connectrpc/connect';
import { toConnectError } from '@csda/errors';
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
