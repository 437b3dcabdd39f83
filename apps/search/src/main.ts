import type { EntityManager } from '@mikro-orm/postgresql';
import { enqueueOutbox, loadConfig, openAuditOutbox, openRuntime, resourceChangedMessage, runCli, runMigrate, serve } from '@csda/service-kit';
import { configSchema, hnswSettings, type Config } from './config.ts';
import { definition } from './definition.ts';
import { ensureIndexConsumers, startIndexing } from './index/start-indexing.ts';
import { ensureVectorIndexes, vectorIndexCheck } from './index/vector-indexes.ts';
import { openQueries } from './query/open-search.ts';
import { createRoutes } from './rpc/routes.ts';

const config = (): Config => loadConfig(configSchema, process.env);

await runCli(
  definition.name,
  {
    async serve() {
      const cfg = config();
      const hnsw = hnswSettings(cfg);
      const runtime = await openRuntime(definition, cfg);
      const audit = openAuditOutbox(runtime);
      runtime.health.addCheck('vector indexes', vectorIndexCheck(runtime.orm, hnsw));
      const search = openQueries(runtime, cfg);
      await serve(runtime, { routes: createRoutes(runtime, { search }), opsServer: true, audit });
      await startIndexing(
        runtime,
        {
          indexConcurrency: cfg.SEARCH_INDEX_CONCURRENCY,
          eventsConcurrency: cfg.SEARCH_EVENTS_CONCURRENCY,
          ackWaitMs: cfg.SEARCH_INDEX_ACK_WAIT_S * 1_000,
          stagingMaxAgeMs: cfg.SEARCH_STAGING_MAX_AGE_H * 3_600_000,
        },
        audit,
      );
      // Results cached elsewhere (the gateway) may come from another model, or from before this replica's changes: say it started.
      await (runtime.orm.em.fork() as EntityManager).transactional((em) =>
        enqueueOutbox(em as EntityManager, 'search', [resourceChangedMessage(runtime.nats.subjects, 'search', { resourceType: 'index', resourceId: search.model, change: 'started' })]),
      );
      audit.kick();
    },
    migrate: () => {
      const cfg = config();
      const hnsw = hnswSettings(cfg);
      // After the migrations: the durables, then the HNSW indexes with the configured parameters (built or rebuilt here, never at serve).
      return runMigrate(definition, cfg, async (runtime) => {
        await ensureIndexConsumers(runtime.nats, cfg.SEARCH_INDEX_ACK_WAIT_S * 1_000);
        await ensureVectorIndexes(runtime.orm, hnsw, runtime.logger);
      });
    },
  },
  process.argv,
);
