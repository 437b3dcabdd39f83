import type { HealthState } from '@csda/service-kit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { ServiceDirectory } from '../system/service-directory.ts';

export interface OpsRouteDeps {
  readonly exposeInternals: boolean;
  readonly health: HealthState;
  readonly registry: Registry;
  /** false: no `/metrics` route here (production scrapes the ops port). */
  readonly metricsOnRestPort?: boolean;
  readonly directory: Pick<ServiceDirectory, 'health'>;
}

const serviceStateSchema = z.object({
  name: z.string(),
  state: z.enum(['ready', 'not_ready', 'unreachable']),
  detail: z.string().optional(),
});

const readinessSchema = z
  .object({ status: z.enum(['ready', 'not_ready']), services: z.array(serviceStateSchema) })
  .meta({ id: 'Readiness' });

/** Liveness, readiness of the whole platform, and (unless metricsOnRestPort is false) Prometheus metrics. */
export function opsRoutes(deps: OpsRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      { schema: { tags: ['ops'], summary: 'Liveness: the gateway process answers', response: { 200: z.object({ status: z.literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['ops'],
          summary: 'Readiness: 200 only when the gateway and all five backend services are ready',
          response: { 200: readinessSchema, 503: readinessSchema },
        },
      },
      async (_request, reply) => {
        const [own, backends] = await Promise.all([deps.health.report(), deps.directory.health()]);
        // Details (driver messages, addresses) only outside production: this endpoint is public.
        const failing = Object.entries(own.checks).filter(([, r]) => !r.ok).map(([name, r]) => (deps.exposeInternals ? `${name}: ${r.detail ?? 'failing'}` : name));
        const services = [
          { name: 'gateway', state: own.ready ? ('ready' as const) : ('not_ready' as const), ...(failing.length ? { detail: failing.join('; ') } : {}) },
          ...backends.map((b) => (deps.exposeInternals ? b : { name: b.name, state: b.state })),
        ];
        const ready = services.every((s) => s.state === 'ready');
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', services });
      },
    );
    if (deps.metricsOnRestPort === false) return;
    app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
      return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
    });
  };
}
