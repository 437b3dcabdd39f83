import type { EntityManager } from '@mikro-orm/postgresql';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import {
  ConfigError,
  connectRedis,
  connectWithRetry,
  createServiceClient,
  createRedis,
  describeService,
  ensureConsumer,
  loadConfig,
  openAuditOutbox,
  openRuntime,
  redactUrl,
  redisCheck,
  runCli,
  runMigrate,
  schemaStatus,
  serve,
  startConsumer,
} from '@csda/service-kit';
import { createAuditLogRepository } from './audit/audit-log.repository.ts';
import { AUDIT_CONSUMER_CONCURRENCY, auditConsumerSpec, createAuditHandler } from './audit/audit.consumer.ts';
import { verifyAuditChain } from './audit/audit-verify.ts';
import { cacheEventsSpec, createCacheEventsHandler } from './cache/cache-events.consumer.ts';
import { familyGen } from './cache/families.ts';
import { createResponseCache } from './cache/response-cache.ts';
import { assertServeConfig, cacheTtls, configSchema, trustProxySetting } from './config.ts';
import { definition } from './definition.ts';
import { buildApp } from './http/app.ts';
import { bootstrapAdmin } from './identity/users/bootstrap.ts';
import { createIdentity, createIdentityDeps, gatewayAudit } from './identity/identity.ts';
import { resolveJwtSecret } from './identity/auth/jwt-secret.ts';
import { createPasswordHasher, passwordProblem } from './identity/passwords.ts';
import { createIdentityRepositories } from './identity/repositories.ts';
import { createSessionPurge } from './identity/auth/session-purge.ts';
import { createRoutes } from './rpc/routes.ts';
import { createQueueInspector, registerQueueMetrics } from './system/queues.ts';
import { createServiceDirectory } from './system/service-directory.ts';

const config = () => loadConfig(configSchema, process.env);

await runCli(
  definition.name,
  {
    async serve() {
      const cfg = config();
      assertServeConfig(cfg);
      const runtime = await openRuntime(definition, cfg);
      const { lifecycle, logger, nats } = runtime;
      const fork = () => runtime.orm.em.fork() as EntityManager;
      const outbox = openAuditOutbox(runtime);

      const redis = createRedis(cfg.REDIS_URL, cfg.REDIS_KEY_PREFIX, logger);
      lifecycle.defer('redis', () => redis.quit());
      await connectWithRetry('redis', redactUrl(cfg.REDIS_URL), () => connectRedis(redis), logger, { deadlineMs: cfg.STARTUP_TIMEOUT_MS, signal: lifecycle.signal });
      runtime.health.addCheck('redis', redisCheck(redis));
      const jwtSecret = await resolveJwtSecret(cfg, (msg) => logger.warn(msg));
      const signer = runtime.identity.signer;
      if (!signer) throw new Error('the gateway has no internal signing key');

      const identityDeps = createIdentityDeps({ config: cfg, em: fork, redis, outbox, jwtSecret });
      const queues = createQueueInspector(nats);
      registerQueueMetrics(runtime.metrics.registry, queues);

      const spec = auditConsumerSpec(nats.subjects, cfg.AUDIT_ACK_WAIT_MS);
      // Production: /metrics only on OPS_PORT (the NetworkPolicy opens it to Prometheus, never to the ingress).
      // GetUsers / PurgeSessions answer the scheduler only; every refusal is audited through the outbox.
      await serve(runtime, {
        routes: createRoutes(runtime, { repositories: identityDeps.repositories, now: identityDeps.now, sessions: createSessionPurge(identityDeps) }),
        opsServer: cfg.NODE_ENV === 'production',
        audit: outbox,
      });
      await ensureConsumer(nats, spec);
      const audit = await startConsumer(nats, {
        spec,
        concurrency: AUDIT_CONSUMER_CONCURRENCY,
        metrics: runtime.metrics.consumers,
        logger: logger.child({ consumer: spec.durable }),
        handler: createAuditHandler(nats.subjects, () => createAuditLogRepository(fork())),
      });
      lifecycle.defer('audit consumer', () => audit.stop());
      runtime.health.addCheck('audit consumer', () => audit.check());

      const ttlS = cacheTtls(cfg);
      // Its own client even on the same server: its outage handling (bypass) is not the rate limits' (fail closed).
      const cacheRedis = createRedis(cfg.CACHE_REDIS_URL ?? cfg.REDIS_URL, cfg.REDIS_KEY_PREFIX, logger.child({ component: 'cache' }));
      lifecycle.defer('cache redis', () => cacheRedis.quit().then(() => undefined, () => cacheRedis.disconnect()));
      // A cache Redis that is down at start only means answers come from the services (the client keeps reconnecting).
      await cacheRedis.connect().catch((err: unknown) => logger.warn({ err }, 'cache redis unavailable at start: answers come from the services until it is back'));
      const cache = createResponseCache({
        redis: cacheRedis,
        logger: logger.child({ component: 'cache' }),
        enabled: cfg.CACHE_ENABLED,
        ttlS,
        maxEntryBytes: cfg.CACHE_MAX_ENTRY_BYTES,
        redisTimeoutMs: cfg.CACHE_REDIS_TIMEOUT_MS,
        registry: runtime.metrics.registry,
      });
      lifecycle.defer('cache figures', cache.startFlushing());
      // Roles are defined by migrations: a new release may have changed them.
      await cache.bump([familyGen('roles')], 'write').catch((err: unknown) => logger.warn({ err }, 'cache: role list not invalidated at start (redis unavailable)'));
      const cacheSpec = cacheEventsSpec(nats.subjects);
      await ensureConsumer(nats, cacheSpec);
      const cacheEvents = await startConsumer(nats, {
        spec: cacheSpec,
        concurrency: 16,
        metrics: runtime.metrics.consumers,
        logger: logger.child({ consumer: cacheSpec.durable }),
        handler: createCacheEventsHandler({ cache, subjects: nats.subjects }),
      });
      lifecycle.defer('cache events consumer', () => cacheEvents.stop());
      runtime.health.addCheck('cache events consumer', () => cacheEvents.check());

      const app = await buildApp({
        logger,
        exposeInternals: cfg.NODE_ENV !== 'production',
        metricsOnRestPort: cfg.NODE_ENV !== 'production',
        bodyLimitBytes: cfg.BODY_LIMIT_BYTES,
        version: definition.version,
        health: runtime.health,
        registry: runtime.metrics.registry,
        directory: createServiceDirectory(cfg, signer, [runtime.metrics.rpcClientInterceptor]),
        describeSelf: () => describeService(runtime),
        trustProxy: trustProxySetting(cfg.TRUST_PROXY),
        identity: createIdentity(identityDeps),
        auditLog: () => createAuditLogRepository(fork()),
        vault: createServiceClient(VaultService, cfg.VAULT_URL, [runtime.metrics.rpcClientInterceptor]),
        scheduler: createServiceClient(SchedulerService, cfg.SCHEDULER_URL, [runtime.metrics.rpcClientInterceptor]),
        tools: createServiceClient(ToolRunnerService, cfg.TOOL_RUNNER_URL, [runtime.metrics.rpcClientInterceptor]),
        toolsWaitMaxS: cfg.TOOLS_WAIT_MAX_S,
        search: createServiceClient(SearchService, cfg.SEARCH_URL, [runtime.metrics.rpcClientInterceptor]),
        documents: createServiceClient(DocumentIngestService, cfg.DOCUMENT_INGEST_URL, [runtime.metrics.rpcClientInterceptor]),
        documentLimits: { maxBytes: cfg.DOCUMENT_MAX_BYTES, timeoutMs: cfg.DOCUMENT_TRANSFER_TIMEOUT_S * 1_000, perUser: cfg.DOCUMENT_UPLOADS_PER_USER },
        queues,
        signer,
        cache: { cache, ttlS },
      });
      await app.listen({ host: cfg.HOST, port: cfg.GATEWAY_PORT });
      lifecycle.defer('http server', () => app.close());
      logger.info({ port: cfg.GATEWAY_PORT }, `REST API on http://${cfg.HOST}:${cfg.GATEWAY_PORT}`);
    },
    migrate: () =>
      runMigrate(definition, config(), async (runtime) => {
        await ensureConsumer(runtime.nats, auditConsumerSpec(runtime.nats.subjects, config().AUDIT_ACK_WAIT_MS));
        await ensureConsumer(runtime.nats, cacheEventsSpec(runtime.nats.subjects));
      }),
    /**
     * One-shot, after migrate: the first administrator. A generated password
     * goes to this command's own stdout, once, never through the logger.
     */
    async bootstrap() {
      const cfg = config();
      const initial = cfg.ADMIN_INITIAL_PASSWORD;
      const problem = initial === undefined ? undefined : passwordProblem(initial);
      if (problem) throw new ConfigError([`ADMIN_INITIAL_PASSWORD: ${problem}`]);
      const runtime = await openRuntime(definition, cfg);
      try {
        const status = await schemaStatus(runtime.orm);
        if (!status.current) throw new Error(`schema ${definition.schema} is behind (${status.pending.length} pending migration(s)): run migrate first`);
        const outbox = openAuditOutbox(runtime);
        const outcome = await bootstrapAdmin(
          {
            repositories: () => createIdentityRepositories(runtime.orm.em.fork() as EntityManager, outbox),
            passwords: createPasswordHasher(),
            audit: gatewayAudit(outbox),
          },
          { initialPassword: initial },
        );
        // Recorded in the outbox either way; published now if NATS answers, else by the gateway's relay later.
        await outbox.flush(15_000).catch((err: unknown) => runtime.logger.warn({ err }, 'bootstrap audit records left in the outbox for the gateway to relay'));
        if (!outcome.created) {
          process.stdout.write('Admin user already exists: an active user holds ADMIN (left unchanged)\n');
        } else if (outcome.generatedPassword !== undefined) {
          process.stdout.write(`Admin user created: ${outcome.username}\nInitial password (shown once): ${outcome.generatedPassword}\n`);
        } else {
          process.stdout.write(`Admin user created: ${outcome.username} (password from ADMIN_INITIAL_PASSWORD)\n`);
        }
      } finally {
        await runtime.lifecycle.shutdown('bootstrap finished');
      }
    },
    /** `audit verify`: recomputes the audit log's hash chain; exit 1 naming the first broken link. */
    async audit() {
      if (process.argv[3] !== 'verify') throw new ConfigError(['usage: gateway audit verify']);
      const runtime = await openRuntime(definition, config());
      try {
        const verdict = await verifyAuditChain(() => createAuditLogRepository(runtime.orm.em.fork() as EntityManager));
        if (verdict.broken) {
          process.stdout.write(`audit verify: BROKEN at row ${verdict.broken.id} (event ${verdict.broken.eventId}): ${verdict.broken.reason}; ${verdict.rows - 1} row(s) before it are intact, last intact hash ${verdict.head}\n`);
          return 1;
        }
        process.stdout.write(`audit verify: ${verdict.rows} row(s) intact; head ${verdict.head}\n`);
        return 0;
      } finally {
        await runtime.lifecycle.shutdown('audit verify finished');
      }
    },
  },
  process.argv,
);
