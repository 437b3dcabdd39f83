import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TickResult } from './schedule-loop.ts';

/**
 * The schedule loop's Prometheus series: outcomes by kind, tick duration, and
 * the last tick that completed (alert when it stops advancing while the
 * scheduler runs). Create once per registry.
 */
export function createScheduleMetrics(registry: Registry) {
  const registers = [registry];
  const outcomes = new Counter({
    name: 'csda_scheduler_schedule_outcomes_total',
    help: 'User schedule slots handled by the loop: fired (job started), recorded (run skipped or failed), missed (misfire skip), paused, resumed.',
    labelNames: ['outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'csda_scheduler_schedule_tick_duration_seconds',
    help: 'Duration of one schedule loop tick, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const lastTick = new Gauge({ name: 'csda_scheduler_schedule_last_tick_timestamp_seconds', help: 'When the schedule loop last completed a tick (Unix seconds).', registers });

  return {
    /** Times one tick and counts its outcomes. */
    async measure(tick: () => Promise<TickResult>): Promise<TickResult> {
      const end = duration.startTimer();
      try {
        const result = await tick();
        for (const [outcome, n] of Object.entries(result)) if (n > 0) outcomes.inc({ outcome }, n);
        end({ outcome: 'success' });
        lastTick.set(Date.now() / 1_000);
        return result;
      } catch (err) {
        end({ outcome: 'failure' });
        throw err;
      }
    },
  };
}

export type ScheduleMetrics = ReturnType<typeof createScheduleMetrics>;
