import { AppError } from '@csda/errors';

/** Why an embedding call failed; the message says it in words. */
export type EmbeddingFailureKind =
  | 'timeout' // a request or a worker batch took longer than EMBEDDING_TIMEOUT_MS
  | 'connection' // the server could not be reached or dropped the connection
  | 'http' // the server answered an error status (retries exhausted, or not retryable)
  | 'protocol' // the answer was not a valid embeddings response
  | 'dimensions' // the answer's vectors have another dimension than configured
  | 'overloaded' // the local queue is full
  | 'crashed' // a local worker died while it held the batch
  | 'unavailable' // the local model failed to load, or the provider is closed
  | 'credentials'; // the API key could not be resolved

/**
 * The embedding provider cannot answer: it is down, timed out, overloaded or
 * answered something unusable. An `AppError` with code EXTERNAL_SERVICE_ERROR,
 * so services map it to 503 without a special case. The message never holds
 * an API key or an input text.
 */
export class EmbeddingUnavailableError extends AppError {
  readonly kind: EmbeddingFailureKind;

  constructor(kind: EmbeddingFailureKind, message: string, options: { cause?: unknown } = {}) {
    super('EXTERNAL_SERVICE_ERROR', message, { details: { service: 'embeddings', kind }, cause: options.cause });
    this.kind = kind;
  }
}

/** The EMBEDDING_* settings are invalid; `problems` name each variable. */
export class EmbeddingConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid embedding configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EmbeddingConfigError';
    this.problems = problems;
  }
}
