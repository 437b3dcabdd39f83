import { describe, expect, it } from 'vitest';
import { backoffMs, decide, type ThrottleState } from './login-throttle.ts';

const options = { freeFailures: 3, backoffBaseMs: 1_000, backoffMaxMs: 60_000, accountCeiling: 20, maxFailuresPerClient: 100, windowMs: 900_000, ceilingDelayMs: 500 };
const state = (over: Partial<ThrottleState> = {}): ThrottleState => ({
  blockedUntilMs: 0,
  accountFailures: 0,
  accountTtlMs: 0,
  clientFailures: 0,
  clientTtlMs: 0,
  known: false,
  ...over,
});
const now = 1_000_000;

describe('login back-off', () => {
  it('is free for the first failures, then doubles per failure up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, options))).toEqual([0, 0, 0, 1_000, 2_000, 4_000, 8_000]);
    expect(backoffMs(10, options)).toBe(60_000);
    expect(backoffMs(10_000, options)).toBe(60_000);
  });
});

describe('login throttle decision', () => {
  it('allows a client with no block and no ceiling reached', () => {
    expect(decide(state({ accountFailures: 19, clientFailures: 99 }), options, now)).toEqual({ allowed: true, slowMs: 0 });
  });

  it('refuses a pair while it backs off, rounding up to whole seconds, whoever it is', () => {
    expect(decide(state({ blockedUntilMs: now + 1_001, known: true }), options, now)).toEqual({ allowed: false, retryAfterS: 2 });
    expect(decide(state({ blockedUntilMs: now + 1 }), options, now)).toEqual({ allowed: false, retryAfterS: 1 });
    expect(decide(state({ blockedUntilMs: now }), options, now)).toEqual({ allowed: true, slowMs: 0 });
  });

  it('over the account ceiling, refuses unknown clients but only slows known-good ones', () => {
    expect(decide(state({ accountFailures: 20, accountTtlMs: 30_000 }), options, now)).toEqual({ allowed: false, retryAfterS: 30 });
    expect(decide(state({ accountFailures: 20, accountTtlMs: 30_000, known: true }), options, now)).toEqual({ allowed: true, slowMs: 500 });
    expect(decide(state({ accountFailures: 500, accountTtlMs: -1 }), options, now)).toEqual({ allowed: false, retryAfterS: 900 });
  });

  it('over the per-client ceiling (spraying), refuses that client except where it is known-good', () => {
    expect(decide(state({ clientFailures: 100, clientTtlMs: 5_000 }), options, now)).toEqual({ allowed: false, retryAfterS: 5 });
    expect(decide(state({ clientFailures: 100, clientTtlMs: 5_000, known: true }), options, now)).toEqual({ allowed: true, slowMs: 0 });
  });
});
