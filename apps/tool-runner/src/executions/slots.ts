/** Thrown to whoever still waits for a slot when the replica stops. */
export class SlotsClosedError extends Error {
  constructor() {
    super('the tool-runner replica is stopping');
    this.name = 'SlotsClosedError';
  }
}

/**
 * The replica's TOOLS_MAX_CONCURRENCY: one slot per execution it runs,
 * whether the run came from JOBS_TOOLS or from a waiting ExecuteTool. Slots
 * are handed over in arrival order, and `tryAcquire` never jumps that queue,
 * so runs started in place cannot starve jobs already waiting.
 */
export function createSlots(size: number) {
  let free = size;
  let closed = false;
  const waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];

  return {
    /** Takes a slot when one is free and nobody waits for one. */
    tryAcquire(): boolean {
      if (closed || free === 0 || waiting.length > 0) return false;
      free -= 1;
      return true;
    },
    /** Waits for a slot; rejects with SlotsClosedError once closed. */
    acquire(): Promise<void> {
      if (closed) return Promise.reject(new SlotsClosedError());
      if (free > 0 && waiting.length === 0) {
        free -= 1;
        return Promise.resolve();
      }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    release(): void {
      const next = closed ? undefined : waiting.shift();
      if (next) next.resolve();
      else free = Math.min(size, free + 1);
    },
    /** Refuses new acquisitions and rejects the waiting ones (held slots are still released as usual). */
    close(): void {
      closed = true;
      for (const w of waiting.splice(0)) w.reject(new SlotsClosedError());
    },
    inUse: () => size - free,
    waiting: () => waiting.length,
  };
}

export type Slots = ReturnType<typeof createSlots>;
