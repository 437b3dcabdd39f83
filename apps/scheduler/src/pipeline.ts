import type { ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { alertForEvent } from './alerts/alert-events.ts';
import { createAlertRepository, type AlertInput } from './alerts/alert.repository.ts';
import { withAdvisoryLock } from './background/advisory-lock.ts';
import { createClients, type SchedulerClients } from './clients.ts';
import type { Config } from './config.ts';
import { cleanupExpired, type CleanupResult } from './jobs/cleanup-expired.ts';
import { scanDueRotations, type DueScanResult } from './jobs/due-rotations.ts';
import { createEventsHandler } from './jobs/events.consumer.ts';
import { createJobQueue, type JobQueue } from './jobs/job-queue.ts';
import type { JobResultFact } from './jobs/job-result.ts';
import { createJobRepository, type JobRepository } from './jobs/job.repository.ts';
import { createSchedulerMetrics, type SchedulerMetrics } from './metrics.ts';

export interface RotationRound {
  /** Queued jobs published by the sweep (their first publish had failed). */
  readonly republished: { readonly published: number; readonly failed: number };
  readonly scan: DueScanResult;
}

export interface Pipeline {
  readonly clients: SchedulerClients;
  readonly queue: JobQueue;
  readonly jobs: () => JobRepository;
  readonly raiseAlerts: (alerts: readonly AlertInput[]) => Promise<number>;
  readonly metrics: SchedulerMetrics;
  /** Republishes failed publishes, then scans for due rotations; `undefined` when another process holds the scan. */
  rotateDue(nowMs?: number): Promise<RotationRound | undefined>;
  /** cleanup-expired; `undefined` when another process is running it. */
  cleanup(nowMs?: number): Promise<CleanupResult | undefined>;
  /** The EVENTS consumer's handler. */
  readonly eventsHandler: ReturnType<typeof createEventsHandler>;
}

const DUE_SCAN_LOCK = 'csda.scheduler.due-scan';
const CLEANUP_LOCK = 'csda.scheduler.cleanup';

export interface PipelineOptions {
  /** Called after alerts were newly raised (e.g. the alert delivery's kick). */
  readonly onAlertsRaised?: () => void;
}

/** The rotation pipeline's pieces over one runtime: clients, job queue and records, due scan, cleanup, EVENTS handler. */
export function createPipeline(
  runtime: ServiceRuntime<Config>,
  clients: SchedulerClients = createClients(runtime, runtime.config),
  options: PipelineOptions = {},
): Pipeline {
  const raised = (n: number) => {
    if (n > 0) options.onAlertsRaised?.();
    return n;
  };
  const { config, logger, orm } = runtime;
  const fork = () => orm.em.fork() as EntityManager;
  const metrics = createSchedulerMetrics(runtime.metrics.registry);
  const queue = createJobQueue({ runtime, publishConcurrency: config.SCHEDULER_PUBLISH_CONCURRENCY, metrics });
  const raiseAlerts = async (alerts: readonly AlertInput[]) => raised(await createAlertRepository(fork()).raise(alerts));
  const apply = async (results: readonly JobResultFact[], alerts: readonly AlertInput[]) => {
    const newAlerts = await fork().transactional(async (tx) => {
      if (results.length > 0) await createJobRepository(tx).fold(results);
      return alerts.length > 0 ? createAlertRepository(tx).raise(alerts) : 0;
    });
    metrics.results(results.map((r) => r.status));
    raised(newAlerts);
  };

  return {
    clients,
    queue,
    jobs: () => createJobRepository(fork()),
    raiseAlerts,
    metrics,
    async rotateDue(nowMs) {
      const round = await withAdvisoryLock(orm, DUE_SCAN_LOCK, () =>
        metrics.measure(
          'due_scan',
          async () => {
            const republished = await queue.republishUnpublished();
            const scan = await scanDueRotations({ clients, queue, raiseAlerts, pageSize: config.SCHEDULER_SCAN_PAGE_SIZE, logger }, nowMs);
            metrics.dueFound(scan.jobsCreated + scan.jobsExisting, scan.manual);
            return { republished, scan };
          },
          (r) => r.scan.publishFailed === 0 && r.republished.failed === 0,
        ),
      );
      return round.ran ? round.value : undefined;
    },
    async cleanup(nowMs) {
      const round = await withAdvisoryLock(orm, CLEANUP_LOCK, () =>
        metrics.measure(
          'cleanup',
          () => cleanupExpired({ clients, thresholdDays: config.SCHEDULER_EXPIRY_WARN_DAYS, logger }, nowMs),
          (r) => r.failures.length === 0,
        ),
      );
      return round.ran ? round.value : undefined;
    },
    eventsHandler: createEventsHandler({ subjects: runtime.nats.subjects, alertForEvent, apply }),
  };
}
