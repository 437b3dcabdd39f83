import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ServiceInfo } from '@csda/proto/csda/common/v1/service_info_pb.js';
import type { HealthState, Logger } from '@csda/service-kit';
import { LogController, fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import type { AuditLogRepository } from '../audit/audit-log.repository.ts';
import { auditRoutes } from '../audit/audit.routes.ts';
import { cacheRoutes } from '../cache/cache.routes.ts';
import type { CacheFamily } from '../cache/families.ts';
import { writeInvalidations } from '../cache/invalidation.ts';
import { uncached, type ResponseCache } from '../cache/response-cache.ts';
import { documentRoutes, type DocumentRouteDeps } from '../documents/documents.routes.ts';
import { authRoutes } from '../identity/auth/auth.routes.ts';
import type { Identity } from '../identity/identity.ts';
import { roleRoutes } from '../identity/roles/role.routes.ts';
import { userRoutes } from '../identity/users/user.routes.ts';
import { alertRoutes } from '../scheduler/alerts.routes.ts';
import { jobRoutes } from '../scheduler/jobs.routes.ts';
import type { SchedulerRouteDeps } from '../scheduler/scheduler-routes.deps.ts';
import { scheduleRoutes } from '../scheduler/schedules.routes.ts';
import type { QueueInspector } from '../system/queues.ts';
import { systemRoutes } from '../system/system.routes.ts';
import { searchRoutes, type SearchRouteDeps } from '../search/search.routes.ts';
import { toolRoutes, type ToolRouteDeps } from '../tools/tools.routes.ts';
import { vaultRoutes, type VaultRouteDeps } from '../vault/vault.routes.ts';
import type { ServiceDirectory } from '../system/service-directory.ts';
import { installErrorHandling, sendError } from './error-handler.ts';
import { installHttpMetrics } from './metrics.ts';
import { rawSecurityHeaders, securityHeaderOptions } from './security-headers.ts';
import { opsRoutes } from './ops.routes.ts';
import { installTracing } from './tracing.ts';

export interface AppDeps {
  readonly logger: Logger;
  readonly exposeInternals: boolean;
  readonly bodyLimitBytes: number;
  readonly version: string;
  readonly health: HealthState;
  readonly registry: Registry;
  /** Serve `/metrics` on this (public) port; production serves it on the ops port instead. Default true. */
  readonly metricsOnRestPort?: boolean;
  readonly directory: Pick<ServiceDirectory, 'health' | 'info'>;
  readonly describeSelf: () => Promise<ServiceInfo>;
  /** Fastify `trustProxy` (TRUST_PROXY): which hops may set X-Forwarded-For, for client addresses. */
  readonly trustProxy?: boolean | string;
  /** Auth hooks (`identity.hooks`) guard every protected route plugin; services behind the identity routes. */
  readonly identity: Identity;
  /** The audit log over a fresh EntityManager fork per call. */
  readonly auditLog: () => Pick<AuditLogRepository, 'search'>;
  /** Client of the vault service and the internal-token signer the vault routes call it with. */
  readonly vault: VaultRouteDeps['vault'];
  readonly signer: VaultRouteDeps['signer'];
  /** Client of the scheduler service (schedules, jobs, alerts), called with the same signer. */
  readonly scheduler: SchedulerRouteDeps['scheduler'];
  /** Client of the tool-runner (tools and executions), called with the same signer. */
  readonly tools: ToolRouteDeps['tools'];
  /** The tool-runner's TOOLS_WAIT_MAX_S: how long a `wait: true` execution may hold the call. Default 30. */
  readonly toolsWaitMaxS?: number;
  /** Client of the search service, called with the same signer. */
  readonly search: SearchRouteDeps['search'];
  /** Client of document-ingest, called with the same signer, and the upload limits (DOCUMENT_*). */
  readonly documents: DocumentRouteDeps['documents'];
  readonly documentLimits?: DocumentRouteDeps['limits'];
  /** The work queues' figures (`/api/v1/system/queues`). */
  readonly queues: Pick<QueueInspector, 'snapshot'>;
  /** The response cache and its TTLs (`/api/v1/cache/stats`); without it every answer comes from the services. */
  readonly cache?: { readonly cache: ResponseCache; readonly ttlS: Readonly<Record<CacheFamily, number>> };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The REST edge as a Fastify instance (not listening: main.ts owns the port, tests use inject). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const headers = securityHeaderOptions({ production: !deps.exposeInternals });
  const applyHeaders = rawSecurityHeaders(headers);
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    return503OnClosing: true,
    // Errors Fastify raises before routing (a malformed URL, say) get the envelope too.
    frameworkErrors: (err, request, reply) => {
      applyHeaders(request.raw, reply.raw);
      void sendError(err, request, reply, deps.exposeInternals);
    },
    trustProxy: deps.trustProxy ?? false,
  });
  app.decorateRequest('principal', undefined);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
  });
  installTracing(app);
  installHttpMetrics(app, deps.registry);
  installErrorHandling(app, deps.exposeInternals);
  const cache = deps.cache?.cache;
  if (cache) {
    // A write's own invalidation, before its answer leaves: the writer's next read (on any replica) is fresh.
    app.addHook('onSend', async (request, reply, payload) => {
      const generations = writeInvalidations(request.method, request.routeOptions.url, request.params as Record<string, string>, reply.statusCode, () => (typeof payload === 'string' ? safeJson(payload) : undefined));
      if (generations.length === 0) return payload;
      await cache.bump(generations, 'write').catch((err: unknown) => request.log.warn({ err, route: request.routeOptions.url }, 'cache not invalidated by this write (redis unavailable): the service’s change event will, and this replica bumps the epoch when redis is back'));
      return payload;
    });
  }
  const cached = cache ? cache.handler.bind(cache) : uncached;
  // Before every route, so each response (errors and /docs included) carries the headers.
  await app.register(helmet, headers);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'CSDA API', version: deps.version, description: 'REST API of the CSDA platform. Errors use one envelope: {"error": {code, message, details, request_id}}.' },
      tags: [
        { name: 'system', description: 'Platform services' },
        { name: 'ops', description: 'Health, readiness and metrics' },
        { name: 'auth', description: 'Registration, login, token refresh and logout' },
        { name: 'users', description: 'User administration' },
        { name: 'roles', description: 'Roles and their permissions' },
        { name: 'audit', description: 'The audit trail of security-relevant actions' },
        { name: 'vault', description: 'Secrets with envelope-encrypted versions; values only through the audited reveal endpoint' },
        { name: 'schedules', description: 'Cron schedules that run a target (rotate_secret) as their owner' },
        { name: 'jobs', description: 'Background jobs (every rotation): status, attempts, timings, last error' },
        { name: 'alerts', description: 'Alerts (rotation due or failed, secret expiring or expired) and the webhooks they are delivered to' },
        { name: 'tools', description: 'Tools for agents (python_script, shell_command, api_call, sql_query), run sandboxed; their executions and figures' },
        { name: 'documents', description: 'Uploads streamed to document-ingest, their processing status (parse → chunk → embed → index), access, reindex and the stored originals' },
        { name: 'search', description: 'Vector, keyword (BM25) and hybrid search over the chunks of documents you may see' },
      ],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });

  await app.register(opsRoutes(deps));
  const { hooks } = deps.identity;
  await app.register(authRoutes({ hooks, authService: deps.identity.authService }), { prefix: '/api/v1/auth' });
  await app.register(userRoutes({ hooks, userService: deps.identity.userService }), { prefix: '/api/v1/users' });
  await app.register(roleRoutes({ hooks, roleService: deps.identity.roleService, cached }), { prefix: '/api/v1/roles' });
  await app.register(auditRoutes({ hooks, auditLog: deps.auditLog }), { prefix: '/api/v1/audit' });
  await app.register(systemRoutes({ ...deps, authorize: hooks.requirePermission }), { prefix: '/api/v1/system' });
  await app.register(vaultRoutes({ vault: deps.vault, signer: deps.signer, authorize: hooks.requirePermission, cached }), { prefix: '/api/v1/vault' });
  const scheduler: SchedulerRouteDeps = { scheduler: deps.scheduler, signer: deps.signer, authorize: hooks.requirePermission };
  await app.register(scheduleRoutes(scheduler), { prefix: '/api/v1/schedules' });
  await app.register(jobRoutes(scheduler), { prefix: '/api/v1/jobs' });
  await app.register(alertRoutes(scheduler), { prefix: '/api/v1/alerts' });
  await app.register(toolRoutes({ tools: deps.tools, signer: deps.signer, authorize: hooks.requirePermission, waitMaxS: deps.toolsWaitMaxS ?? 30, cached }), { prefix: '/api/v1/tools' });
  const documentLimits = deps.documentLimits ?? { maxBytes: 50 * 1024 * 1024, timeoutMs: 900_000, perUser: 4 };
  await app.register(documentRoutes({ documents: deps.documents, signer: deps.signer, authorize: hooks.requirePermission, limits: documentLimits, cached }), { prefix: '/api/v1/documents' });
  await app.register(searchRoutes({ search: deps.search, signer: deps.signer, authorize: hooks.requirePermission, cached }), { prefix: '/api/v1/search' });
  if (deps.cache) await app.register(cacheRoutes({ cache: deps.cache.cache, ttlS: deps.cache.ttlS, authorize: hooks.requirePermission }), { prefix: '/api/v1/cache' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
