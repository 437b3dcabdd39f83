import { checkEmbeddingConfig, embeddingConfigShape } from '@csda/embeddings';
import { baseConfigShape, ConfigError, portVar } from '@csda/service-kit';
import { z } from 'zod';
import { queryConfigShape } from './query/query-config.ts';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

export const configSchema = z.object({
  ...baseConfigShape,
  RPC_PORT: portVar(50054),
  OPS_PORT: portVar(9094),
  /** HNSW graph degree of the passage indexes (pgvector `m`): higher = better recall, bigger and slower to build. Applied by `migrate`. */
  SEARCH_HNSW_M: int(2, 100, 16),
  /** HNSW candidate list while building (pgvector `ef_construction`, at least 2 × m). Applied by `migrate`. */
  SEARCH_HNSW_EF_CONSTRUCTION: int(4, 1_000, 64),
  /** maintenance_work_mem (MB) of the session `migrate` builds an HNSW index in. */
  SEARCH_HNSW_BUILD_MEMORY_MB: int(16, 65_536, 256),
  /** Chunk batches (JOBS_SEARCH) one replica writes at once. */
  SEARCH_INDEX_CONCURRENCY: int(1, 64, 2),
  /** Document events (deleted, access changed) one replica handles at once. */
  SEARCH_EVENTS_CONCURRENCY: int(1, 256, 8),
  /** How long a delivered batch may go without progress before JetStream redelivers it (a crashed replica's batch comes back after this). */
  SEARCH_INDEX_ACK_WAIT_S: int(5, 3_600, 60),
  /** Staged versions with no new batch for this long are removed (their batches can no longer arrive: JOBS_SEARCH keeps messages 7 days). */
  SEARCH_STAGING_MAX_AGE_H: int(1, 8_760, 168),
  // Queries: the provider that embeds them (EMBEDDING_*) and the SEARCH_* query settings.
  ...embeddingConfigShape,
  ...queryConfigShape,
}).superRefine(checkEmbeddingConfig);

export type Config = z.infer<typeof configSchema>;

/** The HNSW build settings; pgvector refuses ef_construction below 2 × m, so that is a configuration error here. */
export function hnswSettings(c: Config): { m: number; efConstruction: number; buildMemoryMb: number } {
  if (c.SEARCH_HNSW_EF_CONSTRUCTION < 2 * c.SEARCH_HNSW_M) {
    throw new ConfigError([`SEARCH_HNSW_EF_CONSTRUCTION: ${c.SEARCH_HNSW_EF_CONSTRUCTION} is less than 2 × SEARCH_HNSW_M (${2 * c.SEARCH_HNSW_M}); pgvector needs ef_construction ≥ 2 × m`]);
  }
  return { m: c.SEARCH_HNSW_M, efConstruction: c.SEARCH_HNSW_EF_CONSTRUCTION, buildMemoryMb: c.SEARCH_HNSW_BUILD_MEMORY_MB };
}
