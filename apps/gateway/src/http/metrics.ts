import { LATENCY_BUCKETS } from '@csda/service-kit';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** The route label of requests no route matched (404s of unknown paths): one series, not one per URL. */
export const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * REST request count and latency by method, route TEMPLATE
 * (`/api/v1/vault/secrets/:id`, never the raw URL, so ids and probes cannot
 * grow the series) and status. Registers its metrics on `registry` once per app.
 */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const labelNames = ['method', 'route', 'status'] as const;
  const duration = new Histogram({ name: 'csda_http_request_duration_seconds', help: 'REST request latency, by method, route template and status.', labelNames, buckets: LATENCY_BUCKETS, registers: [registry] });
  const total = new Counter({ name: 'csda_http_requests_total', help: 'REST requests answered, by method, route template and status.', labelNames, registers: [registry] });
  app.addHook('onResponse', async (request, reply) => {
    // routeOptions.url is the template of the matched route; the not-found handler has none.
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    const labels = { method: METHODS.has(request.method) ? request.method : 'OTHER', route, status: String(reply.statusCode) };
    duration.observe(labels, reply.elapsedTime / 1_000);
    total.inc(labels);
  });
}
