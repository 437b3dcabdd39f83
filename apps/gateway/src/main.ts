import type { EntityManager } from '@mikro-orm/postgresql';
import {
  connectRedis,
  connectWithRetry,
  createRedis,
  describeService,
  ensureConsumer,
  loadConfig,
  openRuntime,
  redactUrl,
  redisCheck,
  runCli,
  runMigrate,
  serve,
  startConsumer,
} from '@csda/service-kit';
import { createAuditLogRepository } from './audit/audit-log.repository.ts';
import { auditConsumerSpec, createAuditHandler } from './audit/audit.consumer.ts';
import { configSchema } from './config.ts';
import { definition } from './definition.ts';
import { buildApp } from './http/app.ts';
import { createRoutes } from './rpc/routes.ts';
import { createServiceDirectory } from './system/service-directory.ts';

const config = () => loadConfig(configSchema, process.env);

await runCli(
  definition.name,
  {
    async serve() {
      const cfg = config();
      const runtime = await openRuntime(definition, cfg);
      const { lifecycle, logger, nats } = runtime;

      const redis = createRedis(cfg.REDIS_URL, cfg.REDIS_KEY_PREFIX);
      lifecycle.defer('redis', () => redis.quit());
      await connectWithRetry('redis', redactUrl(cfg.REDIS_URL), () => connectRedis(redis), logger, { deadlineMs: cfg.STARTUP_TIMEOUT_MS, signal: lifecycle.signal });
      runtime.health.addCheck('redis', redisCheck(redis));

      const spec = auditConsumerSpec(nats.subjects, cfg.AUDIT_ACK_WAIT_MS);
      await serve(runtime, { routes: createRoutes(runtime), opsServer: false });
      await ensureConsumer(nats, spec);
      const audit = await startConsumer(nats, {
        spec,
        concurrency: 8,
        logger: logger.child({ consumer: spec.durable }),
        handler: createAuditHandler(nats.subjects, () => createAuditLogRepository(runtime.orm.em.fork() as EntityManager)),
      });
      lifecycle.defer('audit consumer', () => audit.stop());

      const app = await buildApp({
        logger,
        exposeInternals: cfg.NODE_ENV !== 'production',
        bodyLimitBytes: cfg.BODY_LIMIT_BYTES,
        version: definition.version,
        health: runtime.health,
        registry: runtime.metrics.registry,
        directory: createServiceDirectory(cfg),
        describeSelf: () => describeService(runtime),
      });
      await app.listen({ host: cfg.HOST, port: cfg.GATEWAY_PORT });
      lifecycle.defer('http server', () => app.close());
      logger.info({ port: cfg.GATEWAY_PORT }, `REST API on http://${cfg.HOST}:${cfg.GATEWAY_PORT}`);
    },
    migrate: () =>
      runMigrate(definition, config(), async (runtime) => {
        await ensureConsumer(runtime.nats, auditConsumerSpec(runtime.nats.subjects, config().AUDIT_ACK_WAIT_MS));
      }),
  },
  process.argv,
);
