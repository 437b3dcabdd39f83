import { Worker } from 'node:worker_threads';
import { EmbeddingUnavailableError } from '../errors.ts';
import type { BatchRequest, WorkerMessage } from './protocol.ts';

export interface PoolOptions {
  /** Worker entry (speaks protocol.ts). */
  readonly script: URL;
  readonly workerData: unknown;
  readonly threads: number;
  /** Texts that may wait for a worker; beyond it `run` fails at once with kind `overloaded`. */
  readonly queueMax: number;
  /** A batch still running after this long fails (kind `timeout`) and its worker is replaced. */
  readonly batchTimeoutMs: number;
  /** Delay before replacing a worker that died, doubled per consecutive death up to 30 s. */
  readonly restartDelayMs?: number;
}

interface Job {
  readonly texts: readonly string[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (vectors: Float32Array) => void;
  readonly reject: (err: unknown) => void;
  readonly onAbort: () => void;
  settled: boolean;
}

interface Slot {
  worker: Worker | undefined;
  state: 'starting' | 'idle' | 'busy' | 'down';
  job: Job | undefined;
  jobId: number;
  timer: NodeJS.Timeout | undefined;
}

const MAX_RESTART_DELAY_MS = 30_000;

/**
 * A fixed set of worker threads, each holding one model, fed from one bounded
 * FIFO queue of batches. The event loop only posts texts and receives
 * vectors. A worker that exits, throws or overruns its batch is replaced;
 * the batch it held fails with `EmbeddingUnavailableError` (never hangs).
 */
export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #queuedTexts = 0;
  #nextId = 1;
  #deaths = 0;
  #loadError: string | undefined;
  #closed = false;
  #readyWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(options: PoolOptions) {
    this.#options = options;
    for (let i = 0; i < options.threads; i++) {
      const slot: Slot = { worker: undefined, state: 'down', job: undefined, jobId: 0, timer: undefined };
      this.#slots.push(slot);
      this.#spawn(slot);
    }
  }

  /** Resolves when every worker has loaded its model; rejects when loading failed. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#slots.every((s) => s.state === 'idle' || s.state === 'busy')) return Promise.resolve();
    if (this.#loadError !== undefined) return Promise.reject(loadFailed(this.#loadError));
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** Embeds one batch on the next free worker: row-major `texts.length × dims`. */
  run(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array> {
    if (this.#closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#loadError !== undefined && !this.#slots.some((s) => s.state === 'idle' || s.state === 'busy')) {
      return Promise.reject(loadFailed(this.#loadError));
    }
    if (this.#queuedTexts + texts.length > this.#options.queueMax) {
      return Promise.reject(
        new EmbeddingUnavailableError('overloaded', `local embedding queue is full (${this.#queuedTexts} texts waiting, limit ${this.#options.queueMax})`),
      );
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const job: Job = {
        texts,
        signal,
        settled: false,
        resolve: (vectors) => this.#settle(job, () => resolve(vectors)),
        reject: (err) => this.#settle(job, () => reject(err)),
        onAbort: () => {
          const at = this.#queue.indexOf(job);
          if (at >= 0) {
            this.#queue.splice(at, 1);
            this.#queuedTexts -= job.texts.length;
          }
          // A batch already on a worker runs to its end; its result is dropped.
          job.reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#queue.push(job);
      this.#queuedTexts += texts.length;
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.reject(closedError());
    this.#queuedTexts = 0;
    for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(closedError());
    await Promise.all(
      this.#slots.map(async (slot) => {
        clearTimeout(slot.timer);
        slot.job?.reject(closedError());
        const worker = slot.worker;
        slot.worker = undefined;
        slot.state = 'down';
        await worker?.terminate();
      }),
    );
  }

  #settle(job: Job, finish: () => void): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    finish();
  }

  #spawn(slot: Slot): void {
    if (this.#closed) return;
    const worker = new Worker(this.#options.script, { workerData: this.#options.workerData });
    slot.worker = worker;
    slot.state = 'starting';
    worker.on('message', (message: WorkerMessage) => this.#onMessage(slot, worker, message));
    worker.on('error', (err) => this.#onDeath(slot, worker, err.message));
    worker.on('exit', (code) => this.#onDeath(slot, worker, `worker exited with code ${code}`));
  }

  #onMessage(slot: Slot, worker: Worker, message: WorkerMessage): void {
    if (slot.worker !== worker) return;
    switch (message.type) {
      case 'ready':
        slot.state = 'idle';
        worker.unref(); // an idle pool does not keep the process alive; busy workers do
        this.#loadError = undefined;
        if (this.#slots.every((s) => s.state === 'idle' || s.state === 'busy')) {
          for (const waiter of this.#readyWaiters.splice(0)) waiter.resolve();
        }
        this.#dispatch();
        return;
      case 'fatal':
        this.#onDeath(slot, worker, `model failed to load: ${message.message}`);
        return;
      case 'result':
      case 'error': {
        if (message.id !== slot.jobId || !slot.job) return;
        const job = slot.job;
        clearTimeout(slot.timer);
        slot.job = undefined;
        slot.state = 'idle';
        worker.unref();
        this.#deaths = 0;
        if (message.type === 'result') job.resolve(message.vectors);
        else job.reject(new EmbeddingUnavailableError('crashed', `local embedding failed: ${message.message}`));
        this.#dispatch();
      }
    }
  }

  #onDeath(slot: Slot, worker: Worker, reason: string): void {
    if (slot.worker !== worker) return;
    const wasLoaded = slot.state === 'idle' || slot.state === 'busy';
    slot.worker = undefined;
    slot.state = 'down';
    clearTimeout(slot.timer);
    worker.removeAllListeners('message');
    void worker.terminate();
    slot.job?.reject(new EmbeddingUnavailableError('crashed', `local embedding worker died: ${reason}`));
    slot.job = undefined;
    if (this.#closed) return;
    if (!wasLoaded) {
      this.#loadError = reason;
      if (!this.#slots.some((s) => s.state === 'idle' || s.state === 'busy')) {
        for (const job of this.#queue.splice(0)) job.reject(loadFailed(reason));
        this.#queuedTexts = 0;
        for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(loadFailed(reason));
      }
    }
    const base = this.#options.restartDelayMs ?? 1_000;
    const delay = Math.min(base * 2 ** this.#deaths, MAX_RESTART_DELAY_MS);
    this.#deaths++;
    setTimeout(() => this.#spawn(slot), delay).unref();
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.state !== 'idle' || this.#queue.length === 0) continue;
      const job = this.#queue.shift()!;
      this.#queuedTexts -= job.texts.length;
      const worker = slot.worker!;
      slot.state = 'busy';
      worker.ref();
      slot.job = job;
      slot.jobId = this.#nextId++;
      slot.timer = setTimeout(() => {
        job.reject(new EmbeddingUnavailableError('timeout', `local embedding batch of ${job.texts.length} took longer than ${this.#options.batchTimeoutMs} ms`));
        slot.job = undefined;
        this.#onDeath(slot, worker, 'batch timed out');
      }, this.#options.batchTimeoutMs);
      const request: BatchRequest = { id: slot.jobId, texts: job.texts };
      worker.postMessage(request);
    }
  }
}

function closedError(): EmbeddingUnavailableError {
  return new EmbeddingUnavailableError('unavailable', 'embedding provider is closed');
}

function loadFailed(reason: string): EmbeddingUnavailableError {
  return new EmbeddingUnavailableError('unavailable', `local embedding model is unavailable: ${reason}`);
}
