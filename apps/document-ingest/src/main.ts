import { createEmbeddingProvider } from '@csda/embeddings';
import { loadConfig, openAuditOutbox, openRuntime, runCli, runMigrate, serve } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { openBlobStores } from './blobs/open-blob-stores.ts';
import { configSchema, type Config } from './config.ts';
import { definition } from './definition.ts';
import { createDocumentRepository } from './documents/document.repository.ts';
import { createDocumentService } from './documents/document.service.ts';
import { ensurePipelineConsumers, startPipeline } from './pipeline/start-pipeline.ts';
import { createRoutes } from './rpc/routes.ts';

const config = (): Config => loadConfig(configSchema, process.env);

await runCli(
  definition.name,
  {
    async serve() {
      const runtime = await openRuntime(definition, config());
      const { config: cfg, logger, nats, lifecycle } = runtime;
      const audit = openAuditOutbox(runtime);
      const blobs = openBlobStores(runtime, cfg);
      const embedder = createEmbeddingProvider({ ...cfg });
      lifecycle.defer('embedding provider', () => embedder.close());
      const documents = createDocumentService({
        repository: () => createDocumentRepository(runtime.orm.em.fork() as EntityManager),
        blobs,
        audit,
        subjects: nats.subjects,
        maxBytes: cfg.DOCUMENT_MAX_BYTES,
        logger: logger.child({ component: 'documents' }),
      });
      await serve(runtime, { routes: createRoutes(runtime, { documents }), opsServer: true, audit });
      try {
        await startPipeline(runtime, { blobs: blobs.of, embedder, kick: () => audit.kick(), sweepBlobs: blobs.sweepIncomplete });
      } catch (err) {
        // A SIGTERM right after "serving" closes NATS and the database under the pipeline's start ("closed connection"): a stop, not a failure (exit 0).
        if (!lifecycle.stopping) throw err;
        logger.info({ err }, 'stopped while the pipeline was starting');
      }
    },
    migrate: () => {
      const cfg = config();
      return runMigrate(definition, cfg, (runtime) => ensurePipelineConsumers(runtime.nats, cfg));
    },
  },
  process.argv,
);
