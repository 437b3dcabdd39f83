import { describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.ts';

describe('createBatcher', () => {
  it('flushes at maxSize, and the rest after maxWaitMs', async () => {
    const flushed: number[][] = [];
    const batcher = createBatcher<number>(async (items) => void flushed.push(items), { maxSize: 3, maxWaitMs: 20 });
    await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
    expect(flushed).toEqual([[1, 2, 3], [4]]);
  });

  it('rejects every caller of a failed batch, and only those', async () => {
    let calls = 0;
    const batcher = createBatcher<string>(async () => {
      if (calls++ === 0) throw new Error('db down');
    }, { maxSize: 2, maxWaitMs: 5 });
    const first = await Promise.allSettled([batcher.add('a'), batcher.add('b')]);
    const second = await Promise.allSettled([batcher.add('c')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(second.map((r) => r.status)).toEqual(['fulfilled']);
  });

  it('settles items one by one when flush reports per-item outcomes', async () => {
    const batcher = createBatcher<number>(async (items) => items.map((n) => (n % 2 ? new Error(`odd ${n}`) : undefined)), { maxSize: 4, maxWaitMs: 5 });
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => batcher.add(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
  });
});
