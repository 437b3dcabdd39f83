import { describe, expect, it } from 'vitest';
import { planDueSlot, type DueSchedule } from './slots.ts';

const hourly = (dueAt: string, misfirePolicy: DueSchedule['misfirePolicy']): DueSchedule => ({ cron: '0 * * * *', timeZone: 'UTC', misfirePolicy, dueAt: new Date(dueAt) });
const plan = (s: DueSchedule, now: string) => {
  const p = planDueSlot(s, new Date(now), 60_000);
  return { fire: p.fire && { scheduledFor: p.fire.scheduledFor.toISOString(), catchUp: p.fire.catchUp }, next: p.next?.toISOString() };
};

describe('planDueSlot', () => {
  it.each(['skip', 'run_once'] as const)('runs an on-time slot (%s)', (policy) => {
    expect(plan(hourly('2027-01-01T10:00:00Z', policy), '2027-01-01T10:00:04Z')).toEqual({
      fire: { scheduledFor: '2027-01-01T10:00:00.000Z', catchUp: false },
      next: '2027-01-01T11:00:00.000Z',
    });
  });

  it('skip: after a downtime across several slots, no run and the next future slot', () => {
    expect(plan(hourly('2027-01-01T10:00:00Z', 'skip'), '2027-01-01T13:20:00Z')).toEqual({ fire: null, next: '2027-01-01T14:00:00.000Z' });
  });

  it('skip: one slot missed by more than the grace is not run either', () => {
    expect(plan(hourly('2027-01-01T10:00:00Z', 'skip'), '2027-01-01T10:05:00Z')).toEqual({ fire: null, next: '2027-01-01T11:00:00.000Z' });
  });

  it('skip: back just after a slot, that slot runs on time and only the older ones are missed', () => {
    expect(plan(hourly('2027-01-01T10:00:00Z', 'skip'), '2027-01-01T13:00:30Z')).toEqual({
      fire: { scheduledFor: '2027-01-01T13:00:00.000Z', catchUp: true },
      next: '2027-01-01T14:00:00.000Z',
    });
  });

  it('run_once: exactly one catch-up run, for the latest missed slot, then the next future slot', () => {
    expect(plan(hourly('2027-01-01T10:00:00Z', 'run_once'), '2027-01-01T13:20:00Z')).toEqual({
      fire: { scheduledFor: '2027-01-01T13:00:00.000Z', catchUp: true },
      next: '2027-01-01T14:00:00.000Z',
    });
    expect(plan(hourly('2027-01-01T10:00:00Z', 'run_once'), '2027-01-01T10:30:00Z')).toEqual({
      fire: { scheduledFor: '2027-01-01T10:00:00.000Z', catchUp: true },
      next: '2027-01-01T11:00:00.000Z',
    });
  });

  it('a downtime of a year costs one step, not a walk over every minute', () => {
    const started = performance.now();
    const p = plan({ cron: '* * * * *', timeZone: 'Europe/Berlin', misfirePolicy: 'run_once', dueAt: new Date('2026-01-01T00:00:00Z') }, '2027-01-01T00:00:30Z');
    expect(p.fire?.scheduledFor).toBe('2027-01-01T00:00:00.000Z');
    expect(p.next).toBe('2027-01-01T00:01:00.000Z');
    expect(performance.now() - started).toBeLessThan(500);
  });
});
