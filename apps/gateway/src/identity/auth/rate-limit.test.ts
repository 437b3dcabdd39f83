import { describe, expect, it } from 'vitest';
import { decide } from './rate-limit.ts';

const windowMs = 900_000;
const counter = (count: number, ttlMs: number, max: number) => ({ state: { count, ttlMs }, max, windowMs });

describe('fixed-window decision', () => {
  it('allows up to and including the limit', () => {
    expect(decide([counter(1, windowMs, 5)])).toEqual({ allowed: true, retryAfterS: 0 });
    expect(decide([counter(5, 10, 5)])).toEqual({ allowed: true, retryAfterS: 0 });
  });

  it('blocks the attempt after the limit until the window ends, rounding up to whole seconds', () => {
    expect(decide([counter(6, 600_000, 5)])).toEqual({ allowed: false, retryAfterS: 600 });
    expect(decide([counter(6, 1_001, 5)])).toEqual({ allowed: false, retryAfterS: 2 });
    expect(decide([counter(6, 1, 5)])).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it('treats a window of unknown length as a whole window, and never exceeds one', () => {
    expect(decide([counter(9, -1, 5)])).toEqual({ allowed: false, retryAfterS: 900 });
    expect(decide([counter(9, 5 * windowMs, 5)])).toEqual({ allowed: false, retryAfterS: 900 });
  });

  it('blocks when any counter is over, for the longest blocking window', () => {
    // account under its limit, address over it
    expect(decide([counter(2, 800_000, 5), counter(51, 30_000, 50)])).toEqual({ allowed: false, retryAfterS: 30 });
    // both over: wait for the later one
    expect(decide([counter(6, 120_000, 5), counter(51, 30_000, 50)])).toEqual({ allowed: false, retryAfterS: 120 });
    // an under-limit counter's longer window does not count
    expect(decide([counter(1, 890_000, 5), counter(51, 30_000, 50)]).retryAfterS).toBe(30);
  });
});
