import { describe, expect, it } from 'vitest';
import { createExecutionWaiter, createFinishNotifier } from './execution-waiter.ts';
import type { ExecutionRecord, ExecutionStatus } from './execution.types.ts';

const record = (status: ExecutionStatus) => ({ id: 'e1', status }) as ExecutionRecord;

describe('finish notifier', () => {
  it('keeps a signal that arrives between the watch and the wait (no lost wake-up)', async () => {
    const notifier = createFinishNotifier();
    const watch = notifier.watch('e1');
    notifier.notify('e1');
    const started = Date.now();
    await watch.wait(5_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    watch.close();
  });

  it('wakes only the watchers of that id, and all of them on wakeAll', async () => {
    const notifier = createFinishNotifier();
    const a = notifier.watch('a');
    const b = notifier.watch('b');
    const woken: string[] = [];
    const wa = a.wait(5_000).then(() => woken.push('a'));
    const wb = b.wait(200).then(() => woken.push('b'));
    notifier.notify('a');
    await wa;
    expect(woken).toEqual(['a']);
    await wb;
    expect(woken).toEqual(['a', 'b']);
    const wa2 = a.wait(5_000);
    const wb2 = b.wait(5_000);
    const started = Date.now();
    notifier.wakeAll();
    await Promise.all([wa2, wb2]);
    expect(Date.now() - started).toBeLessThan(1_000);
    a.close();
    b.close();
  });
});

describe('execution waiter', () => {
  /** A repository answering `statuses` in turn (the last one repeats), counting reads. */
  const repo = (statuses: ExecutionStatus[]) => {
    let reads = 0;
    return { reads: () => reads, find: async () => record(statuses[Math.min(reads++, statuses.length - 1)]!) };
  };

  it('returns at the signal while listening, without re-reading before the fallback interval', async () => {
    const notifier = createFinishNotifier();
    const r = repo(['running', 'completed']);
    const waiter = createExecutionWaiter({ repository: () => r, notifier, listening: () => true, fallbackPollMs: 60_000 });
    const started = Date.now();
    const done = waiter.until('e1', Date.now() + 30_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.reads()).toBe(1);
    notifier.notify('e1');
    expect((await done).status).toBe('completed');
    expect(r.reads()).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('polls on a short back-off when signals do not arrive, and answers as it stands at the deadline', async () => {
    const notifier = createFinishNotifier();
    const r = repo(['running']);
    const waiter = createExecutionWaiter({ repository: () => r, notifier, listening: () => false, fallbackPollMs: 60_000 });
    const started = Date.now();
    const e = await waiter.until('e1', Date.now() + 600);
    expect(e.status).toBe('running');
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    // 20, 40, 80, 160, 250… ms between reads.
    expect(r.reads()).toBeGreaterThanOrEqual(4);
  });
});
