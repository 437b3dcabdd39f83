import { ensureConsumer, loadConfig, openAuditOutbox, openRuntime, runCli, runMigrate, serve, startConsumer, type ServiceRuntime } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { startPeriodic } from './background/periodic.ts';
import { configSchema, type Config } from './config.ts';
import { definition } from './definition.ts';
import { createJobRunRepository } from './job-runs/job-run.repository.ts';
import { CleanupFailedError, describeCleanup } from './jobs/cleanup-expired.ts';
import { describeDueScan } from './jobs/due-rotations.ts';
import { EVENTS_CONSUMER_CONCURRENCY, eventsConsumerSpec } from './jobs/events.consumer.ts';
import { runOneShot, type OneShotJob } from './jobs/one-shot.ts';
import { alertDeliveryConfig } from './alerts/alert-config.ts';
import { startAlertDelivery } from './alerts/alert-delivery.ts';
import { createAlertHttp, createDestinationCheck } from './alerts/alert-http.ts';
import type { RevealSigningSecret } from './alerts/alert.types.ts';
import { createPipeline, type Pipeline, type RotationRound } from './pipeline.ts';
import { createRoutes } from './rpc/routes.ts';
import { createScheduleMetrics } from './schedules/schedule-metrics.ts';
import { startScheduleLoop } from './schedules/schedule-loop.ts';

const config = (): Config => loadConfig(configSchema, process.env);
const CLEANUP_FIRST_RUN_DELAY_MS = 30_000;

function describeRound(round: RotationRound): string {
  const { published, failed } = round.republished;
  const sweep = published + failed > 0 ? `; earlier failed publishes: ${published} published, ${failed} still failing` : '';
  return `${describeDueScan(round.scan)}${sweep}`;
}

/** rotate-secrets: one due scan. Exits non-zero if a publish failed (the jobs stay queued for the next run). */
const rotateSecrets =
  (pipeline: Pipeline): OneShotJob =>
  async () => {
    const round = await pipeline.rotateDue();
    if (!round) return { detail: 'skipped: another scheduler is scanning for due rotations right now' };
    const detail = describeRound(round);
    if (round.scan.publishFailed > 0 || round.republished.failed > 0) throw new Error(detail);
    return { detail };
  };

/** cleanup-expired: every step runs; exits non-zero if one failed. */
const cleanupExpired =
  (pipeline: Pipeline): OneShotJob =>
  async () => {
    const result = await pipeline.cleanup();
    if (!result) return { detail: 'skipped: another scheduler is running cleanup-expired right now' };
    if (result.failures.length > 0) throw new CleanupFailedError(result);
    return { detail: describeCleanup(result) };
  };

async function oneShot(name: string, job: (pipeline: Pipeline) => OneShotJob): Promise<void> {
  const runtime: ServiceRuntime<Config> = await openRuntime(definition, config());
  try {
    const runs = createJobRunRepository(runtime.orm.em.fork() as EntityManager);
    await runOneShot(name, job(createPipeline(runtime)), runs, runtime.logger);
  } finally {
    await runtime.lifecycle.shutdown(`${name} finished`);
  }
}

/**
 * The background loops of `serve` (SCHEDULER_LOOPS): due scan every
 * SCHEDULER_SCAN_INTERVAL_S, cleanup every SCHEDULER_CLEANUP_INTERVAL_S, user
 * schedules every SCHEDULER_SCHEDULES_INTERVAL_S.
 */
function startLoops(runtime: ServiceRuntime<Config>, pipeline: Pipeline): void {
  const { config: cfg, lifecycle, logger } = runtime;
  const scan = startPeriodic(
    'due-rotation scan',
    cfg.SCHEDULER_SCAN_INTERVAL_S * 1_000,
    async () => {
      const round = await pipeline.rotateDue();
      if (!round) return logger.debug('due-rotation scan skipped: another replica holds it');
      // Info only when something new happened: jobs in flight are listed again by every scan until the vault finishes them.
      const busy = round.scan.jobsCreated + round.scan.alertsRaised + round.republished.published + round.republished.failed > 0;
      logger[round.scan.publishFailed > 0 ? 'warn' : busy ? 'info' : 'debug']({ ...round.scan, republished: round.republished }, describeRound(round));
    },
    logger,
  );
  lifecycle.defer('due-rotation scan', () => scan.stop());
  const cleanup = startPeriodic(
    'cleanup-expired',
    cfg.SCHEDULER_CLEANUP_INTERVAL_S * 1_000,
    async () => {
      const result = await pipeline.cleanup();
      if (!result) return logger.debug('cleanup-expired skipped: another replica holds it');
      logger[result.failures.length > 0 ? 'warn' : 'info']({ ...result }, `cleanup-expired: ${describeCleanup(result)}`);
    },
    logger,
    // Not at the very start: the gateway (PurgeSessions) usually comes up after the scheduler.
    Math.min(cfg.SCHEDULER_CLEANUP_INTERVAL_S * 1_000, CLEANUP_FIRST_RUN_DELAY_MS),
  );
  lifecycle.defer('cleanup-expired loop', () => cleanup.stop());
  const { clients } = pipeline;
  const schedules = startScheduleLoop({
    em: () => runtime.orm.em.fork() as EntityManager,
    logger: logger.child({ component: 'schedules' }),
    enqueueRotations: (jobs, em) => pipeline.queue.enqueueRotations(jobs, em),
    vault: clients.vault,
    toolRunner: clients.toolRunner,
    documents: clients.documents,
    asUser: clients.asUser,
    gateway: clients.gateway,
    asScheduler: clients.asScheduler,
    intervalMs: cfg.SCHEDULER_SCHEDULES_INTERVAL_S * 1_000,
    metrics: createScheduleMetrics(runtime.metrics.registry),
  });
  lifecycle.defer('schedule loop', () => schedules.stop());
}

await runCli(
  definition.name,
  {
    async serve() {
      const runtime = await openRuntime(definition, config());
      const { lifecycle, logger, nats } = runtime;
      const em = () => runtime.orm.em.fork() as EntityManager;
      let kickDelivery = () => {};
      const pipeline = createPipeline(runtime, undefined, { onAlertsRaised: () => kickDelivery() });
      const { clients } = pipeline;
      // An alert webhook's signing secret stays in the vault: revealed as the webhook's creator, scoped to that one secret.
      const revealSigningSecret: RevealSigningSecret = async ({ signingSecretId, owner }) =>
        (await clients.vault.revealSecret({ id: signingSecretId }, await clients.asUser(owner, [['secrets:reveal', signingSecretId]], 'vault'))).value;
      const audit = openAuditOutbox(runtime);
      const alertHttp = createAlertHttp(runtime.config);
      lifecycle.defer('alert webhook client', () => alertHttp.close());
      await serve(runtime, {
        routes: createRoutes(runtime, {
          jobs: pipeline.jobs,
          alerts: { em, revealSigningSecret, checkDestination: createDestinationCheck(runtime.config), audit },
          schedules: { em, vault: clients.vault, toolRunner: clients.toolRunner, documents: clients.documents, asUser: clients.asUser, audit },
        }),
        opsServer: true,
        audit,
      });
      // Alerts are delivered whatever SCHEDULER_LOOPS says: no CronJob delivers them.
      const delivery = startAlertDelivery({ em, logger: logger.child({ component: 'alert-delivery' }), http: alertHttp, revealSigningSecret, config: alertDeliveryConfig(runtime.config) });
      kickDelivery = () => delivery.kick();
      lifecycle.defer('alert delivery', () => delivery.stop());
      const spec = eventsConsumerSpec(nats.subjects);
      await ensureConsumer(nats, spec);
      const events = await startConsumer(nats, {
        spec,
        concurrency: EVENTS_CONSUMER_CONCURRENCY,
        metrics: runtime.metrics.consumers,
        logger: logger.child({ consumer: spec.durable }),
        handler: pipeline.eventsHandler,
      });
      lifecycle.defer('events consumer', () => events.stop());
      runtime.health.addCheck('events consumer', () => events.check());
      if (runtime.config.SCHEDULER_LOOPS) startLoops(runtime, pipeline);
      else logger.info('SCHEDULER_LOOPS=false: due scan and cleanup run only as the rotate-secrets / cleanup-expired commands; user schedules do not fire');
    },
    migrate: () =>
      runMigrate(definition, config(), async (runtime) => {
        await ensureConsumer(runtime.nats, eventsConsumerSpec(runtime.nats.subjects));
      }),
    'rotate-secrets': () => oneShot('rotate-secrets', rotateSecrets),
    'cleanup-expired': () => oneShot('cleanup-expired', cleanupExpired),
  },
  process.argv,
);
