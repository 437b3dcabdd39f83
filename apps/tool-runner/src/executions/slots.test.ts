import { describe, expect, it } from 'vitest';
import { createSlots, SlotsClosedError } from './slots.ts';

describe('slots', () => {
  it('gives out at most `size` slots; tryAcquire fails when none is free', () => {
    const slots = createSlots(2);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    expect(slots.inUse()).toBe(2);
    slots.release();
    expect(slots.tryAcquire()).toBe(true);
  });

  it('hands a released slot to the first waiter, and tryAcquire never jumps the queue', async () => {
    const slots = createSlots(1);
    expect(slots.tryAcquire()).toBe(true);
    const order: string[] = [];
    const a = slots.acquire().then(() => order.push('a'));
    const b = slots.acquire().then(() => order.push('b'));
    expect(slots.waiting()).toBe(2);
    slots.release();
    // The slot went to a; a caller trying its luck meanwhile gets nothing, even after b is served and releases.
    expect(slots.tryAcquire()).toBe(false);
    await a;
    slots.release();
    expect(slots.tryAcquire()).toBe(false);
    await b;
    expect(order).toEqual(['a', 'b']);
    slots.release();
    expect(slots.inUse()).toBe(0);
    expect(slots.tryAcquire()).toBe(true);
  });

  it('never counts more free slots than it has, even on a stray release', () => {
    const slots = createSlots(1);
    slots.release();
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
  });

  it('rejects waiters and new acquisitions once closed', async () => {
    const slots = createSlots(1);
    expect(slots.tryAcquire()).toBe(true);
    const waiting = slots.acquire();
    slots.close();
    await expect(waiting).rejects.toBeInstanceOf(SlotsClosedError);
    await expect(slots.acquire()).rejects.toBeInstanceOf(SlotsClosedError);
    slots.release();
    expect(slots.tryAcquire()).toBe(false);
  });
});
