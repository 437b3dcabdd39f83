/**
 * One embedding model behind one interface. Vectors are L2-normalised
 * `Float32Array`s of length `dimensions`, in the order of the inputs.
 */
export interface EmbeddingProvider {
  /** Identity of the model that makes the vectors, e.g. "local:use-lite-512@0.2.0"; the index records it. */
  readonly model: string;
  readonly dimensions: number;
  /** Longest input (in the model's tokens, roughly words and word pieces) it handles well; longer inputs are truncated. */
  readonly maxInputTokens: number;
  /**
   * Embeds `texts` (batched internally). Rejects with `EmbeddingUnavailableError`
   * when the provider cannot answer, and with `signal.reason` when aborted.
   */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Resolves once the provider can answer (local: the model is loaded); rejects with `EmbeddingUnavailableError`. */
  ready?(): Promise<void>;
  /** Releases workers and connections; later calls fail with `EmbeddingUnavailableError`. */
  close(): Promise<void>;
}

export interface EmbedOptions {
  signal?: AbortSignal;
}

/** Scales `vector` in place to unit length (a zero vector stays zero). */
export function normalise(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm;
  return vector;
}

/** Throws the abort reason when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** Refuses anything but an array of strings (a programming error, not a provider failure). */
export function checkTexts(texts: readonly string[]): void {
  if (!Array.isArray(texts)) throw new TypeError('embed(texts): texts must be an array of strings');
  texts.forEach((text, i) => {
    if (typeof text !== 'string') throw new TypeError(`embed(texts): texts[${i}] is not a string`);
  });
}
