export interface BatcherOptions {
  /** Flush as soon as this many items wait. */
  readonly maxSize: number;
  /** Flush at the latest this long after the first item of a batch arrived. */
  readonly maxWaitMs: number;
}

export interface Batcher<T> {
  /** Resolves when the batch holding `item` has been flushed; rejects if that flush failed. */
  add(item: T): Promise<void>;
}

/**
 * Groups concurrent work into one flush (e.g. one multi-row insert for many
 * consumed messages): fewer round trips and transactions under load, no
 * added latency beyond `maxWaitMs` when idle. Each caller learns the outcome
 * of its own batch, so acks and naks stay per message.
 */
export function createBatcher<T>(flush: (items: T[]) => Promise<void>, options: BatcherOptions): Batcher<T> {
  let pending: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;

  const run = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    flush(batch.map((p) => p.item)).then(
      () => batch.forEach((p) => p.resolve()),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  };

  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (pending.length >= options.maxSize) run();
        else timer ??= setTimeout(run, options.maxWaitMs);
      });
    },
  };
}
