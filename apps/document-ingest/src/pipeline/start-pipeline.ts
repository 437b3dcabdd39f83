import { createDocumentParser } from '@csda/documents';
import type { EmbeddingProvider } from '@csda/embeddings';
import { ensureConsumer, startConsumer, type Nats, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BlobStore, BlobStoreKind } from '../blobs/blob-store.ts';
import type { Config } from '../config.ts';
import { createChunkPool } from './chunk-pool.ts';
import { createPipelineRepository } from './pipeline.repository.ts';
import { createSearchEventsHandler, searchEventsSpec } from './search-events.consumer.ts';
import { consumerConfig, createStageHandler, documentJobsSpec } from './stage-jobs.consumer.ts';
import { createStages } from './stages.ts';
import { createSweeper } from './sweeper.ts';
import { openTmpDir } from './tmp-dir.ts';

/** Creates or updates the two durables (`migrate` and `serve` both call it). */
export async function ensurePipelineConsumers(nats: Nats, config: Pick<Config, 'DOCUMENT_ACK_WAIT_S' | 'DOCUMENT_MAX_ATTEMPTS'>): Promise<void> {
  await ensureConsumer(nats, consumerConfig(documentJobsSpec(nats.subjects, config.DOCUMENT_ACK_WAIT_S * 1_000, config.DOCUMENT_MAX_ATTEMPTS)));
  await ensureConsumer(nats, searchEventsSpec(nats.subjects));
}

export interface PipelineDeps {
  readonly blobs: (kind: BlobStoreKind) => BlobStore;
  readonly embedder: EmbeddingProvider;
  readonly kick: () => void;
  /** Removes PostgreSQL blobs a crash left incomplete. */
  readonly sweepBlobs: (olderThanMs: number) => Promise<number>;
}

/**
 * The pipeline side of a replica: the JOBS_DOCUMENTS consumer running stages
 * (DOCUMENT_CONCURRENCY at once), the EVENTS consumer turning search's
 * document.indexed into `ready`, and a sweep for stalled stages and abandoned
 * blobs. On shutdown running stages are aborted (their jobs come back to
 * another replica), then the consumers stop before NATS and the database close.
 */
export async function startPipeline(runtime: ServiceRuntime<Config>, deps: PipelineDeps): Promise<void> {
  const { nats, logger, lifecycle, health, metrics, config: cfg } = runtime;
  const repo = createPipelineRepository(() => runtime.orm.em.fork() as EntityManager, nats.subjects);
  const ackWaitMs = cfg.DOCUMENT_ACK_WAIT_S * 1_000;
  await ensurePipelineConsumers(nats, cfg);
  const tmp = await openTmpDir(cfg.DOCUMENT_TMP_DIR);
  lifecycle.defer('temporary files', () => tmp.remove());
  // One spare per running stage; each parse still gets a fresh worker with the memory cap.
  const parser = createDocumentParser({ memoryLimitMb: cfg.DOCUMENT_PARSE_MEMORY_MB, spares: cfg.DOCUMENT_CONCURRENCY });
  lifecycle.defer('parse workers', () => parser.close());
  const chunker = createChunkPool({ size: cfg.DOCUMENT_CONCURRENCY, memoryMb: cfg.DOCUMENT_PARSE_MEMORY_MB, timeoutMs: cfg.DOCUMENT_PARSE_TIMEOUT_S * 1_000 });
  lifecycle.defer('chunk workers', () => chunker.close());
  void chunker.warm().catch((err: unknown) => {
    if (!lifecycle.stopping) logger.warn({ err }, 'chunk workers did not warm up; they start with the first documents');
  });
  const stages = createStages({
    repo,
    blobs: deps.blobs,
    embedder: deps.embedder,
    chunker,
    parser,
    subjects: nats.subjects,
    kick: deps.kick,
    limits: {
      parseTimeoutMs: cfg.DOCUMENT_PARSE_TIMEOUT_S * 1_000,
      maxUncompressedBytes: cfg.DOCUMENT_MAX_UNCOMPRESSED_MB * 1024 * 1024,
      embedChunks: cfg.DOCUMENT_EMBED_CHUNKS,
      tmpDir: tmp.path,
    },
  });
  const stopping = new AbortController();
  const jobsSpec = documentJobsSpec(nats.subjects, ackWaitMs, cfg.DOCUMENT_MAX_ATTEMPTS);
  const jobs = await startConsumer(nats, {
    spec: jobsSpec,
    concurrency: cfg.DOCUMENT_CONCURRENCY,
    metrics: metrics.consumers,
    logger: logger.child({ consumer: jobsSpec.durable }),
    handler: createStageHandler({ repo, stages, ackWaitMs, maxAttempts: cfg.DOCUMENT_MAX_ATTEMPTS, stopping: stopping.signal, kick: deps.kick }),
  });
  lifecycle.defer('document jobs consumer', async () => {
    const stopped = jobs.stop();
    stopping.abort(new Error('document-ingest is stopping'));
    await stopped;
  });
  health.addCheck('document jobs consumer', () => jobs.check());

  const eventsSpec = searchEventsSpec(nats.subjects);
  const events = await startConsumer(nats, { spec: eventsSpec, concurrency: 4, metrics: metrics.consumers, logger: logger.child({ consumer: eventsSpec.durable }), handler: createSearchEventsHandler({ repo, kick: deps.kick }) });
  lifecycle.defer('search events consumer', () => events.stop());
  health.addCheck('search events consumer', () => events.check());

  const sweepStalled = createSweeper({ repo, subjects: nats.subjects, kick: deps.kick, logger: logger.child({ component: 'sweeper' }) }, { stallMs: cfg.DOCUMENT_STALL_S * 1_000, indexTimeoutMs: cfg.DOCUMENT_INDEX_TIMEOUT_S * 1_000 });
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      await sweepStalled();
      const blobs = await deps.sweepBlobs(60 * 60 * 1_000);
      if (blobs > 0) logger.warn({ blobs }, 'incomplete uploads removed');
    } catch (err) {
      logger.warn({ err }, 'pipeline sweep failed; retrying at the next interval');
    } finally {
      sweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), Math.min(60_000, Math.max(5_000, (cfg.DOCUMENT_STALL_S * 1_000) / 4)));
  timer.unref();
  lifecycle.defer('pipeline sweep', async () => clearInterval(timer));
  logger.info({ concurrency: cfg.DOCUMENT_CONCURRENCY, model: deps.embedder.model, dimensions: deps.embedder.dimensions }, 'document pipeline started');
}
