import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The background tasks whose runs are measured. */
export type SchedulerTask = 'due_scan' | 'cleanup';

/**
 * The rotation pipeline's Prometheus series on the service's registry: task
 * runs (duration, failures, last success — alert when it stops advancing),
 * jobs enqueued and publishes failed, results folded by status.
 */
export function createSchedulerMetrics(registry: Registry) {
  const registers = [registry];
  const taskDuration = new Histogram({
    name: 'csda_scheduler_task_duration_seconds',
    help: 'Duration of background task runs (due_scan, cleanup), by outcome.',
    labelNames: ['task', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'csda_scheduler_task_last_success_timestamp_seconds',
    help: 'When a background task last finished without failure (Unix seconds).',
    labelNames: ['task'],
    registers,
  });
  const dueSecrets = new Gauge({ name: 'csda_scheduler_due_secrets', help: 'Due secrets the last due scan found.', labelNames: ['kind'], registers });
  const enqueued = new Counter({ name: 'csda_scheduler_jobs_enqueued_total', help: 'Job records created by enqueueing, by job type.', labelNames: ['type'], registers });
  const publishFailures = new Counter({ name: 'csda_scheduler_job_publish_failures_total', help: 'Job publishes that failed (the job stays queued for the sweep).', registers });
  const results = new Counter({ name: 'csda_scheduler_job_results_total', help: 'JobResult events received, by status.', labelNames: ['status'], registers });

  return {
    /** Times `run`; a result of `false` (or a throw) counts as a failed run. */
    async measure<T>(task: SchedulerTask, run: () => Promise<T>, ok: (value: T) => boolean = () => true): Promise<T> {
      const end = taskDuration.startTimer({ task });
      try {
        const value = await run();
        const success = ok(value);
        end({ outcome: success ? 'success' : 'failure' });
        if (success) lastSuccess.set({ task }, Date.now() / 1_000);
        return value;
      } catch (err) {
        end({ outcome: 'failure' });
        throw err;
      }
    },
    dueFound(automatic: number, manual: number): void {
      dueSecrets.set({ kind: 'automatic' }, automatic);
      dueSecrets.set({ kind: 'manual' }, manual);
    },
    enqueued(type: string, created: number, failed: number): void {
      if (created > 0) enqueued.inc({ type }, created);
      if (failed > 0) publishFailures.inc(failed);
    },
    results(statuses: readonly string[]): void {
      for (const status of statuses) results.inc({ status });
    },
  };
}

export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;
