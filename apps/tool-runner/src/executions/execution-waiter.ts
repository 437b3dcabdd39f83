import type { ExecutionRepository } from './execution.repository.ts';
import { FINISHED, type ExecutionRecord } from './execution.types.ts';

/** A registration for one execution's "finished" signal, made before the first read so no signal falls between. */
export interface FinishWatch {
  /** Resolves at the first signal since the watch began (or since the last wait), or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void>;
  close(): void;
}

/**
 * Wakes waiting callers when an execution finishes: called by this replica's
 * worker and sweeper, and by the PostgreSQL listener for other replicas'.
 * A signal carries no state: the waiter re-reads the record.
 */
export interface FinishNotifier {
  watch(id: string): FinishWatch;
  notify(id: string): void;
  /** Every waiter re-reads now (the listener reconnected or dropped: signals may have been missed). */
  wakeAll(): void;
}

export function createFinishNotifier(): FinishNotifier {
  const watchers = new Map<string, Set<() => void>>();
  return {
    watch(id) {
      let fired = false;
      let wake: (() => void) | undefined;
      const fire = () => {
        fired = true;
        wake?.();
      };
      const set = watchers.get(id) ?? new Set();
      watchers.set(id, set);
      set.add(fire);
      return {
        wait(timeoutMs) {
          if (fired) {
            fired = false;
            return Promise.resolve();
          }
          return new Promise((resolve) => {
            const timer = setTimeout(done, timeoutMs);
            function done() {
              clearTimeout(timer);
              wake = undefined;
              fired = false;
              resolve();
            }
            wake = done;
          });
        },
        close() {
          wake?.();
          set.delete(fire);
          if (set.size === 0 && watchers.get(id) === set) watchers.delete(id);
        },
      };
    },
    notify(id) {
      for (const fire of [...(watchers.get(id) ?? [])]) fire();
    },
    wakeAll() {
      for (const set of watchers.values()) for (const fire of [...set]) fire();
    },
  };
}

export interface ExecutionWaiterDeps {
  readonly repository: () => Pick<ExecutionRepository, 'find'>;
  readonly notifier: Pick<FinishNotifier, 'watch'>;
  /** True while finish signals from every replica arrive (the PostgreSQL listener is up). */
  readonly listening: () => boolean;
  /** Safety-net re-read while listening (a signal lost between replicas costs at most this). */
  readonly fallbackPollMs: number;
}

/** Polling back-off while no listener carries other replicas' signals. */
const FAST_POLL_FIRST_MS = 20;
const FAST_POLL_MAX_MS = 250;

/** Waits for an execution to finish: woken by signals, re-reading the record as a fallback. */
export function createExecutionWaiter(deps: ExecutionWaiterDeps) {
  return {
    /** The record once finished, or as it stands at `deadline` (epoch ms). */
    async until(id: string, deadline: number): Promise<ExecutionRecord> {
      const watch = deps.notifier.watch(id);
      try {
        let fast = FAST_POLL_FIRST_MS;
        for (;;) {
          const execution = (await deps.repository().find(id))!;
          if (FINISHED.includes(execution.status) || Date.now() >= deadline) return execution;
          const step = deps.listening() ? deps.fallbackPollMs : fast;
          await watch.wait(Math.min(step, Math.max(1, deadline - Date.now())));
          fast = Math.min(fast * 2, FAST_POLL_MAX_MS);
        }
      } finally {
        watch.close();
      }
    },
  };
}

export type ExecutionWaiter = ReturnType<typeof createExecutionWaiter>;
