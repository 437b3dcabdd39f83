import { createLogger } from '@csda/service-kit';
import { waitFor } from '@csda/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startPeriodic } from './periodic.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

describe('startPeriodic', () => {
  it('runs at start and every interval, survives failures, runs at once when kicked, and stop waits for the run in progress', async () => {
    const runs: number[] = [];
    let release: (() => void) | undefined;
    const task = startPeriodic(
      'test',
      40,
      async () => {
        runs.push(Date.now());
        if (runs.length === 2) throw new Error('dependency down');
        if (runs.length === 4) await new Promise<void>((resolve) => (release = resolve));
      },
      logger,
    );
    // The second run failed; the loop went on.
    await waitFor(() => runs.length === 3, { timeoutMs: 5_000, intervalMs: 5 });
    task.kick();
    await waitFor(() => runs.length === 4, { timeoutMs: 5_000, intervalMs: 5 });
    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await sleep(20);
    expect(stopped).toBe(false);
    release?.();
    await stopping;
    const count = runs.length;
    await sleep(80);
    expect(runs.length).toBe(count);
  });

  it('waits the initial delay before the first run', async () => {
    let ran = 0;
    const started = Date.now();
    let firstRunAfter = 0;
    const task = startPeriodic('delayed', 10_000, async () => void (ran++, (firstRunAfter = Date.now() - started)), logger, 100);
    await waitFor(() => ran === 1, { timeoutMs: 5_000, intervalMs: 5 });
    expect(firstRunAfter).toBeGreaterThanOrEqual(95);
    await task.stop();
  });
});
