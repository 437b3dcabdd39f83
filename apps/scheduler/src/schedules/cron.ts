import { ValidationError } from '@csda/errors';
import { Cron, type CronOptions } from 'croner';

/** Macros accepted besides 5-field expressions (croner expands them; `@reboot` is not a schedule). */
export const CRON_MACROS = ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually'] as const;

const MAX_CRON_LENGTH = 200;

/**
 * Vixie-like DST handling (croner's documented behaviour): a job with no
 * wildcard or step in minute and hour is a fixed-time job — a local time the
 * spring-forward gap skips runs at the first valid time after the gap, the
 * same day; a time that occurs twice (fall back) runs once, at its first
 * occurrence. Other jobs run at every real instant that matches.
 */
const OPTIONS: CronOptions = { mode: '5-part', paused: true, fixedTimeRule: 'no-wildcard' };

/** Trims and collapses whitespace; refuses anything but 5 fields or a known macro. */
export function checkCron(cron: string): string {
  const normalized = cron.trim().replace(/\s+/g, ' ');
  const invalid = (why: string) => new ValidationError('Invalid cron expression', { cron: why });
  if (normalized.length === 0) throw invalid('required');
  if (normalized.length > MAX_CRON_LENGTH) throw invalid(`at most ${MAX_CRON_LENGTH} characters`);
  if (normalized.startsWith('@')) {
    const macro = normalized.toLowerCase();
    if (!(CRON_MACROS as readonly string[]).includes(macro)) throw invalid(`5 fields, or one of ${CRON_MACROS.join(', ')}`);
    return macro;
  }
  const fields = normalized.split(' ').length;
  if (fields !== 5) throw invalid(`5 fields (minute hour day-of-month month day-of-week), got ${fields}`);
  let job: Cron;
  try {
    job = new Cron(normalized, { ...OPTIONS, timezone: 'UTC' });
  } catch (err) {
    throw invalid(cronReason(err));
  }
  // croner accepts dates that never occur (`0 0 31 4 *`, `0 0 30 2 *`): it then has no next run.
  if (job.nextRun() === null) throw invalid('never fires (no such date)');
  return normalized;
}

/** croner's message without its prefix, e.g. "Invalid value for minute: 61". */
function cronReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^CronPattern:\s*/, '').slice(0, 200) || 'invalid expression';
}

/**
 * An IANA time zone name (aliases such as `US/Eastern` are accepted), returned
 * in its canonical spelling; UTC offsets and unknown names are refused.
 */
export function checkTimeZone(zone: string): string {
  const trimmed = zone.trim();
  const invalid = (why: string) => new ValidationError('Invalid time zone', { time_zone: why });
  if (trimmed.length === 0) throw invalid('required');
  // Offsets ("+01:00") are not zones: they have no DST rules.
  if (trimmed.length > 100 || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(trimmed)) throw invalid('an IANA time zone name, e.g. Europe/Berlin');
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    throw invalid('unknown IANA time zone, e.g. Europe/Berlin');
  }
}

const jobFor = (cron: string, zone: string) => new Cron(cron, { ...OPTIONS, timezone: zone });

/** The first slot strictly after `after` (null when the expression never fires again). */
export function nextRunAfter(cron: string, zone: string, after: Date): Date | null {
  return jobFor(cron, zone).nextRun(after);
}

/** The latest slot at or before `at` (null when there is none). */
export function latestRunAtOrBefore(cron: string, zone: string, at: Date): Date | null {
  return jobFor(cron, zone).previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
}

/** The next `count` slots strictly after `after`. */
export function nextRunsAfter(cron: string, zone: string, after: Date, count: number): Date[] {
  return jobFor(cron, zone).nextRuns(count, after);
}
