import type { Logger } from 'pino';

type Closer = () => Promise<unknown> | unknown;

/**
 * Closes what a process opened, in reverse order of opening, once, within a
 * bound. Each resource registers its own closer right after it is opened.
 */
export interface Lifecycle {
  defer(name: string, close: Closer): void;
  shutdown(reason: string): Promise<void>;
  /** SIGTERM/SIGINT start shutdown; a second signal or the bound forces exit(1). */
  handleSignals(): void;
  readonly stopping: boolean;
  /** Aborted when shutdown begins, so start-up waits can give up. */
  readonly signal: AbortSignal;
}

export function createLifecycle(logger: Logger, timeoutMs: number): Lifecycle {
  const closers: { name: string; close: Closer }[] = [];
  let shutdownPromise: Promise<void> | undefined;
  const aborter = new AbortController();

  const runClosers = async (reason: string) => {
    logger.info({ reason }, 'shutting down');
    const hardStop = setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'shutdown exceeded its bound, exiting');
      process.exit(1);
    }, timeoutMs);
    hardStop.unref();
    for (const { name, close } of closers.splice(0).reverse()) {
      try {
        await close();
        logger.debug({ resource: name }, 'closed');
      } catch (err) {
        logger.warn({ err, resource: name }, 'close failed');
      }
    }
    clearTimeout(hardStop);
  };

  const lifecycle: Lifecycle = {
    defer(name, close) {
      if (shutdownPromise) {
        // Opened while shutting down (a signal during start-up): close it right away.
        void Promise.resolve()
          .then(close)
          .catch((err: unknown) => logger.warn({ err, resource: name }, 'close failed'));
        return;
      }
      closers.push({ name, close });
    },
    shutdown(reason) {
      aborter.abort(new Error(`shutdown: ${reason}`));
      shutdownPromise ??= runClosers(reason);
      return shutdownPromise;
    },
    handleSignals() {
      const onSignal = (signal: NodeJS.Signals) => {
        if (shutdownPromise) {
          logger.warn({ signal }, 'second signal, exiting now');
          process.exit(1);
        }
        void lifecycle.shutdown(signal).then(() => {
          process.exitCode ??= 0;
        });
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    signal: aborter.signal,
    get stopping() {
      return shutdownPromise !== undefined;
    },
  };
  return lifecycle;
}
