import type { Permission } from '@csda/auth';
import type { ServiceInfo } from '@csda/proto/csda/common/v1/service_info_pb.js';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { bearerAuth, protectedErrorResponses } from '../http/schemas.ts';
import type { QueueInspector, QueueStatus } from './queues.ts';
import type { ServiceDirectory } from './service-directory.ts';

export interface SystemRouteDeps {
  /** Development: an unreachable service's raw error (address, errno). Production: its status only. */
  readonly exposeInternals: boolean;
  readonly directory: Pick<ServiceDirectory, 'info'>;
  readonly describeSelf: () => Promise<ServiceInfo>;
  readonly queues: Pick<QueueInspector, 'snapshot'>;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
}

const INFO_TIMEOUT_MS = 2_000;

const serviceInfoSchema = z
  .object({
    name: z.string(),
    status: z.enum(['up', 'unreachable']),
    version: z.string().nullable(),
    schema_version: z.string().nullable(),
    schema_current: z.boolean().nullable(),
    started_at: z.string().nullable(),
    /** Development only: why the service could not be reached. */
    error: z.string().optional(),
  })
  .meta({ id: 'ServiceInfo' });

const toJson = (name: string, info: ServiceInfo | undefined, error?: string) => ({
  name,
  status: info ? ('up' as const) : ('unreachable' as const),
  version: info?.version ?? null,
  schema_version: info?.schemaVersion ?? null,
  schema_current: info?.schemaCurrent ?? null,
  started_at: info ? new Date(Number(info.startedAtMs)).toISOString() : null,
  ...(error ? { error } : {}),
});

const count = z.number().int().nullable();
const queueSchema = z
  .object({
    queue: z.string().meta({ description: 'JOBS_DOCUMENTS | JOBS_SEARCH | JOBS_SECRETS | JOBS_TOOLS' }),
    stream: z.string(),
    consumer: z.string(),
    state: z.enum(['ok', 'consumer_missing', 'stream_missing', 'unavailable']).meta({ description: 'ok; consumer_missing (its worker has not created its consumer); stream_missing (not provisioned); unavailable (NATS did not answer)' }),
    messages: count.meta({ description: 'Messages in the stream' }),
    pending: count.meta({ description: 'Not yet delivered (num_pending)' }),
    in_flight: count.meta({ description: 'Delivered, not yet acknowledged (num_ack_pending)' }),
    redelivered: count.meta({ description: 'Delivered more than once, not yet acknowledged (num_redelivered)' }),
    dead_lettered: count.meta({ description: 'Held on the dead-letter subject csda.dlq.<consumer>' }),
  })
  .meta({ id: 'WorkQueue' });

const queueJson = (q: QueueStatus): z.infer<typeof queueSchema> => ({
  queue: q.queue,
  stream: q.stream,
  consumer: q.consumer,
  state: q.state,
  messages: q.messages,
  pending: q.pending,
  in_flight: q.inFlight,
  redelivered: q.redelivered,
  dead_lettered: q.deadLettered,
});

/** `GET /api/v1/system/services`: every service reached over Connect; `GET /api/v1/system/queues`: the work queues. */
export function systemRoutes(deps: SystemRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/services',
      {
        preHandler: deps.authorize('system:read'),
        schema: {
          tags: ['system'],
          summary: 'Name, version and schema version of every service, reached over Connect',
          security: bearerAuth,
          response: { 200: z.object({ items: z.array(serviceInfoSchema), total: z.number().int() }), ...protectedErrorResponses },
        },
      },
      async () => {
        const [self, backends] = await Promise.all([deps.describeSelf(), deps.directory.info(INFO_TIMEOUT_MS)]);
        // The raw error names backend addresses and driver codes: never in production.
        const items = [toJson('gateway', self), ...backends.map((b) => toJson(b.name, b.info, deps.exposeInternals ? b.error : undefined))];
        return { items, total: items.length };
      },
    );

    app.get(
      '/queues',
      {
        preHandler: deps.authorize('system:read'),
        schema: {
          tags: ['system'],
          summary: 'Each work queue: pending, in-flight, redelivered and dead-lettered work (also as csda_queue_* gauges on /metrics)',
          security: bearerAuth,
          response: { 200: z.object({ items: z.array(queueSchema), total: z.number().int() }).meta({ id: 'WorkQueueList' }), ...protectedErrorResponses },
        },
      },
      async () => {
        const items = (await deps.queues.snapshot()).map(queueJson);
        return { items, total: items.length };
      },
    );
  };
}
