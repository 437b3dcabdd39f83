import type { Interceptor } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly rpcInterceptor: Interceptor;
}

/** A Prometheus registry with process metrics and RPC duration/count by method and code. */
export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'csda_rpc_server_duration_seconds',
    help: 'Duration of handled RPCs.',
    labelNames: ['method', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const total = new Counter({
    name: 'csda_rpc_server_handled_total',
    help: 'RPCs handled, by method and code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const rpcInterceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const end = duration.startTimer({ method });
    let code = 'ok';
    try {
      return await next(req);
    } catch (err) {
      code = Code[ConnectError.from(err).code] ?? 'unknown';
      throw err;
    } finally {
      end({ code });
      total.inc({ method, code });
    }
  };
  return { registry, rpcInterceptor };
}
