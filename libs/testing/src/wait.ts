import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `predicate` every `intervalMs` until it holds; throws (naming
 * `what`) after `timeoutMs`. For conditions reached asynchronously by real
 * processes: a row written by a consumer, a stream drained.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<void> {
  const { timeoutMs = 15_000, intervalMs = 100, what = 'condition' } = options;
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
