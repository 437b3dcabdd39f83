import { latestRunAtOrBefore, nextRunAfter } from './cron.ts';

export const MISFIRE_POLICIES = ['skip', 'run_once'] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

export const OVERLAP_POLICIES = ['forbid', 'allow'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** What to do with a schedule whose `next_run_at` has come. */
export interface SlotPlan {
  /** The slot to run now, or null when the due slots are skipped as missed. */
  readonly fire: { readonly scheduledFor: Date; readonly catchUp: boolean } | null;
  /** The next slot strictly after now (null: the expression never fires again). */
  readonly next: Date | null;
}

export interface DueSchedule {
  readonly cron: string;
  readonly timeZone: string;
  readonly misfirePolicy: MisfirePolicy;
  /** The stored `next_run_at`: the first slot not yet handled. */
  readonly dueAt: Date;
}

/**
 * Decides a due schedule's run. Only the latest slot at or before `now` can
 * run: slots before it were missed (the scheduler was down or behind). That
 * latest slot is on time when it is at most `graceMs` old, and runs under
 * either policy; a staler one runs once as a catch-up under `run_once`, and
 * not at all under `skip`. Either way `next` is the first future slot, so a
 * downtime of any length yields at most one run.
 */
export function planDueSlot(schedule: DueSchedule, now: Date, graceMs: number): SlotPlan {
  const { cron, timeZone } = schedule;
  const latestSlot = latestRunAtOrBefore(cron, timeZone, now);
  const latest = latestSlot && latestSlot.getTime() >= schedule.dueAt.getTime() ? latestSlot : schedule.dueAt;
  const next = nextRunAfter(cron, timeZone, now);
  const onTime = now.getTime() - latest.getTime() <= graceMs;
  const catchUp = latest.getTime() > schedule.dueAt.getTime() || !onTime;
  if (onTime || schedule.misfirePolicy === 'run_once') return { fire: { scheduledFor: latest, catchUp }, next };
  return { fire: null, next };
}
