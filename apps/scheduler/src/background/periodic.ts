import type { Logger } from '@csda/service-kit';

export interface PeriodicTask {
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
  /** Runs now (after the current run, if any) instead of at the next tick. */
  kick(): void;
}

/**
 * Calls `run` after `initialDelayMs` (default 0), then every `intervalMs`
 * after the previous run ended. A failing run is logged and retried at the
 * next tick; nothing throws out.
 */
export function startPeriodic(name: string, intervalMs: number, run: () => Promise<void>, logger: Logger, initialDelayMs = 0): PeriodicTask {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let kicked = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      wake = done;
      if (kicked || stopped) return done();
      timer = setTimeout(done, ms);
    });

  const loop = (async () => {
    if (initialDelayMs > 0) await sleep(initialDelayMs);
    while (!stopped) {
      kicked = false;
      try {
        await run();
      } catch (err) {
        logger.warn({ err, task: name, retry_in_ms: intervalMs }, `${name} failed; retrying at the next tick`);
      }
      if (!stopped) await sleep(intervalMs);
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
    kick() {
      kicked = true;
      wake?.();
    },
  };
}
