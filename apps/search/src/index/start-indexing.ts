import { ensureConsumer, startConsumer, type Nats, type OutboxRelay, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createDocumentEventsHandler, documentEventsSpec } from './document-events.consumer.ts';
import { consumerConfig, createIndexJobsHandler, indexJobsSpec } from './index-jobs.consumer.ts';
import { createIndexer } from './indexer.ts';

export interface IndexingSettings {
  readonly indexConcurrency: number;
  readonly eventsConcurrency: number;
  readonly ackWaitMs: number;
  /** Staged versions with no batch for this long are removed. */
  readonly stagingMaxAgeMs: number;
  /** How often that sweep runs (default hourly). */
  readonly sweepEveryMs?: number;
}

/** Creates or updates search's two durables (`migrate` and `serve` both call it). */
export async function ensureIndexConsumers(nats: Nats, ackWaitMs: number): Promise<void> {
  await ensureConsumer(nats, consumerConfig(indexJobsSpec(nats.subjects, ackWaitMs)));
  await ensureConsumer(nats, consumerConfig(documentEventsSpec(nats.subjects)));
}

/**
 * Starts the index side of the service: the JOBS_SEARCH consumer (chunk
 * batches), the EVENTS consumer (deletions, access changes) and the sweep of
 * abandoned staging. Each stops on shutdown before NATS and the database close.
 */
export async function startIndexing(runtime: ServiceRuntime, settings: IndexingSettings, relay: Pick<OutboxRelay, 'kick'>): Promise<void> {
  const { nats, logger, lifecycle, health, metrics } = runtime;
  const indexer = createIndexer({ em: () => runtime.orm.em.fork() as EntityManager, subjects: nats.subjects, relay });
  await ensureIndexConsumers(nats, settings.ackWaitMs);

  const jobsSpec = indexJobsSpec(nats.subjects, settings.ackWaitMs);
  const jobs = await startConsumer(nats, {
    spec: jobsSpec,
    concurrency: settings.indexConcurrency,
    metrics: metrics.consumers,
    logger: logger.child({ consumer: jobsSpec.durable }),
    handler: createIndexJobsHandler({ indexer, ackWaitMs: settings.ackWaitMs }),
  });
  lifecycle.defer('index jobs consumer', () => jobs.stop());
  health.addCheck('index jobs consumer', () => jobs.check());

  const eventsSpec = documentEventsSpec(nats.subjects);
  const events = await startConsumer(nats, {
    spec: eventsSpec,
    concurrency: settings.eventsConcurrency,
    metrics: metrics.consumers,
    logger: logger.child({ consumer: eventsSpec.durable }),
    handler: createDocumentEventsHandler({ indexer, subjects: nats.subjects }),
  });
  lifecycle.defer('document events consumer', () => events.stop());
  health.addCheck('document events consumer', () => events.check());

  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const removed = await indexer.sweepAbandoned(settings.stagingMaxAgeMs);
      if (removed > 0) logger.warn({ versions: removed, max_age_ms: settings.stagingMaxAgeMs }, 'abandoned staged document versions removed (their batches stopped arriving)');
    } catch (err) {
      logger.warn({ err }, 'staging sweep failed; retrying at the next interval');
    } finally {
      sweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), settings.sweepEveryMs ?? 60 * 60 * 1_000);
  timer.unref();
  lifecycle.defer('staging sweep', async () => clearInterval(timer));
  logger.info({ index_concurrency: settings.indexConcurrency, events_concurrency: settings.eventsConcurrency }, 'index consumers started');
}
