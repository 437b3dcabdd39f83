/**
 * @csda/embeddings — one interface over the embedding model.
 *
 *   const provider = createEmbeddingProvider(process.env, { resolveApiKey: (id) => vault.reveal(id) });
 *   await provider.ready?.();                        // local: the model is loaded in its worker threads
 *   const [vector] = await provider.embed(['query text'], { signal });   // unit-length Float32Array
 *   provider.model;                                  // "local:use-lite-512@0.2.0" — record it with the vectors
 *   for (const p of splitPassages(chunk.content)) …  // sentence groups: one vector each, a chunk scores by its best
 *   await provider.close();
 *
 * Failures are `EmbeddingUnavailableError` (EXTERNAL_SERVICE_ERROR → 503),
 * bad settings `EmbeddingConfigError` naming each EMBEDDING_* variable.
 */
export type { EmbeddingProvider, EmbedOptions } from './provider.ts';
export { normalise } from './provider.ts';
export { EmbeddingUnavailableError, EmbeddingConfigError, type EmbeddingFailureKind } from './errors.ts';
export {
  createEmbeddingProvider,
  parseEmbeddingConfig,
  embeddingConfigShape,
  embeddingConfigSchema,
  checkEmbeddingConfig,
  type EmbeddingConfig,
  type EmbeddingEnv,
  type EmbeddingDeps,
} from './config.ts';
export { splitPassages, countTokens, DEFAULT_PASSAGE_TOKENS, type Passage, type SplitOptions } from './passages.ts';
export { createLocalProvider, LOCAL_MAX_BATCH, type LocalProviderOptions } from './local/local-provider.ts';
export { LOCAL_DIMENSIONS, LOCAL_MAX_INPUT_TOKENS, MODEL_PACKAGE } from './local/model-files.ts';
export { createOpenAiProvider, embeddingsUrl, type OpenAiProviderOptions } from './openai/openai-provider.ts';
