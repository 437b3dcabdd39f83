import { createLocalProvider } from '../../src/local/local-provider.ts';

export const FAKE_WORKER = new URL('./fake-worker.ts', import.meta.url);

/** A local provider whose workers are the fake worker (real threads, no model). */
export function fakeLocalProvider(options: { threads?: number; batchSize?: number; queueMax?: number; batchTimeoutMs?: number; workerData?: Record<string, unknown> } = {}) {
  return createLocalProvider({
    threads: options.threads ?? 1,
    batchSize: options.batchSize ?? 4,
    queueMax: options.queueMax ?? 1000,
    batchTimeoutMs: options.batchTimeoutMs ?? 10_000,
    workerScript: FAKE_WORKER,
    workerData: { dims: 512, ...options.workerData },
    restartDelayMs: 50,
  });
}
