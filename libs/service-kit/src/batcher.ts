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
 * of its own batch, so acks and naks stay per message; `flush` may instead
 * return one outcome per item (undefined = done, anything else = that item's
 * error) so one bad item does not fail the others.
 */
export function createBatcher<T>(flush: (items: T[]) => Promise<void | readonly unknown[]>, options: BatcherOptions): Batcher<T> {
  let pending: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;

  const run = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    flush(batch.map((p) => p.item)).then(
      (outcomes) =>
        batch.forEach((p, i) => {
          const failure = outcomes?.[i];
          if (failure === undefined) p.resolve();
          else p.reject(failure);
        }),
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
