import { describe, expect, it } from 'vitest';
import { checkCron, checkTimeZone, latestRunAtOrBefore, nextRunAfter, nextRunsAfter } from './cron.ts';
import { validationDetails } from '@csda/testing';

const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;
const runs = (cron: string, zone: string, after: string, n: number) => nextRunsAfter(cron, zone, new Date(after), n).map((d) => d.toISOString());

describe('checkCron', () => {
  it('accepts 5 fields and the macros, normalized', () => {
    expect(checkCron('  */15   9-17 * * MON-FRI ')).toBe('*/15 9-17 * * MON-FRI');
    for (const macro of ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually']) expect(checkCron(macro.toUpperCase())).toBe(macro);
  });

  it.each([
    ['', 'required'],
    ['* * * *', '5 fields'],
    ['0 * * * * *', '5 fields'],
    ['0 0 0 * * * 2027', '5 fields'],
    ['@reboot', 'one of'],
    ['@every 5m', 'one of'],
    ['61 * * * *', 'minute'],
    ['0 24 * * *', 'hour'],
    ['*/0 * * * *', 'stepping'],
    ['a b c d e', 'illegal'],
    ['0 0 31 4 *', 'never fires'],
    ['0 0 30 2 *', 'never fires'],
    ['x'.repeat(201), 'at most'],
  ])('refuses %j naming cron', (cron, why) => {
    const details = validationDetails(() => checkCron(cron));
    expect(Object.keys(details)).toEqual(['cron']);
    expect(details.cron).toContain(why);
  });
});

describe('checkTimeZone', () => {
  it('accepts IANA names and aliases, returned canonical', () => {
    expect(checkTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(checkTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(checkTimeZone('UTC')).toBe('UTC');
    expect(checkTimeZone('Australia/Lord_Howe')).toBe('Australia/Lord_Howe');
    expect(checkTimeZone('US/Eastern')).toBe('America/New_York');
  });

  it.each(['', 'Mars/Olympus', '+01:00', 'UTC+1', 'Local', '../../etc/passwd', 'Europe/Ber\nlin', 'Europe/Berlin; drop table x'])('refuses %j naming time_zone', (zone) => {
    expect(Object.keys(validationDetails(() => checkTimeZone(zone)))).toEqual(['time_zone']);
  });
});

/**
 * croner 11's documented DST rules (Vixie-like, fixedTimeRule "no-wildcard"):
 * a fixed time that the spring-forward gap removes runs at the first valid
 * time after the gap, the same day; a fixed time that occurs twice runs once,
 * at its first occurrence; interval jobs run at every real matching instant.
 */
describe('nextRunAfter across DST', () => {
  it('Europe/Berlin 02:30 on spring-forward day (02:00→03:00) runs at 03:00 CEST, the next days at 02:30', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2027-03-27T12:00:00Z', 3)).toEqual([
      '2027-03-28T01:00:00.000Z', // 03:00 CEST: 02:30 does not exist
      '2027-03-29T00:30:00.000Z', // 02:30 CEST
      '2027-03-30T00:30:00.000Z',
    ]);
  });

  it('Europe/Berlin 02:30 on fall-back day (03:00→02:00) runs once, at the first 02:30 (CEST)', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2027-10-30T12:00:00Z', 3)).toEqual([
      '2027-10-31T00:30:00.000Z', // 02:30 CEST; the second 02:30 (01:30Z, CET) does not run
      '2027-11-01T01:30:00.000Z', // 02:30 CET
      '2027-11-02T01:30:00.000Z',
    ]);
    // Asked from between the two 02:30s, it does not run the second one either.
    expect(iso(nextRunAfter('30 2 * * *', 'Europe/Berlin', new Date('2027-10-31T00:45:00Z')))).toBe('2027-11-01T01:30:00.000Z');
  });

  it('an interval job runs through both passes of the repeated hour and skips the gap', () => {
    expect(runs('*/30 2 * * *', 'Europe/Berlin', '2027-10-30T23:00:00Z', 4)).toEqual([
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T00:30:00.000Z',
      '2027-10-31T01:00:00.000Z',
      '2027-10-31T01:30:00.000Z',
    ]);
    // Spring forward: 02:00 and 02:30 do not exist, so the day has no run; the next is Monday 02:00 CEST.
    expect(runs('*/30 2 * * *', 'Europe/Berlin', '2027-03-27T12:00:00Z', 1)).toEqual(['2027-03-29T00:00:00.000Z']);
  });

  it('America/New_York: 02:30 on spring-forward runs at 03:00 EDT; 01:30 on fall-back runs once (EDT)', () => {
    expect(runs('30 2 * * *', 'America/New_York', '2027-03-13T12:00:00Z', 2)).toEqual(['2027-03-14T07:00:00.000Z', '2027-03-15T06:30:00.000Z']);
    expect(runs('30 1 * * *', 'America/New_York', '2027-11-06T12:00:00Z', 2)).toEqual(['2027-11-07T05:30:00.000Z', '2027-11-08T06:30:00.000Z']);
  });

  it('Australia/Lord_Howe (30-minute DST): 02:15 in the 02:00→02:30 gap runs at 02:30; 01:45 on fall-back runs once', () => {
    expect(runs('15 2 * * *', 'Australia/Lord_Howe', '2027-10-02T00:00:00Z', 2)).toEqual([
      '2027-10-02T15:30:00.000Z', // 02:30 +11:00
      '2027-10-03T15:15:00.000Z', // 02:15 +11:00
    ]);
    expect(runs('45 1 * * *', 'Australia/Lord_Howe', '2027-04-03T00:00:00Z', 2)).toEqual([
      '2027-04-03T14:45:00.000Z', // 01:45 +11:00, the first of two
      '2027-04-04T15:15:00.000Z', // the next day, 01:45 +10:30
    ]);
  });

  it('0 0 29 2 * is next on the next leap day; the same wall time differs by zone', () => {
    expect(iso(nextRunAfter('0 0 29 2 *', 'UTC', new Date('2027-01-01T00:00:00Z')))).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(nextRunAfter('0 0 29 2 *', 'UTC', new Date('2028-02-29T00:00:00Z')))).toBe('2032-02-29T00:00:00.000Z');
    expect(iso(nextRunAfter('0 9 * * *', 'Asia/Tokyo', new Date('2027-06-01T00:00:00Z')))).toBe('2027-06-02T00:00:00.000Z');
  });

  it('is strictly after, and latestRunAtOrBefore includes the instant itself', () => {
    const at = new Date('2027-01-01T01:00:00Z');
    expect(iso(nextRunAfter('@hourly', 'UTC', at))).toBe('2027-01-01T02:00:00.000Z');
    expect(iso(latestRunAtOrBefore('@hourly', 'UTC', at))).toBe('2027-01-01T01:00:00.000Z');
    expect(iso(latestRunAtOrBefore('@hourly', 'UTC', new Date('2027-01-01T01:59:59Z')))).toBe('2027-01-01T01:00:00.000Z');
  });
});
