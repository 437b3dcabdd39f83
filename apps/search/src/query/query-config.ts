import { ConfigError } from '@csda/service-kit';
import { z } from 'zod';
import type { QuerySettings } from './search.service.ts';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const num = (min: number, max: number, fallback: number) => z.coerce.number().min(min).max(max).default(fallback);

/** The query settings (SEARCH_* of apps/search/src/config.ts). */
export const queryConfigShape = {
  /**
   * Candidates hybrid takes from each list (vector, keyword) before fusing them; at least top_k are always taken.
   * Past rank 30 a list adds at most weight/91 to a fused score, and the lists' cost grows with what they fetch: on
   * 100,000 chunks, a caller seeing 10 %, hybrid took 111 ms p50 with 100 candidates and 37 ms with 30 (a filtered
   * HNSW scan for 300 passages walks far more of the graph); SciFact nDCG@10 of a top-10 request 0.687 vs 0.688.
   */
  SEARCH_HYBRID_CANDIDATES: int(10, 1_000, 30),
  /**
   * Hybrid's default reciprocal-rank-fusion weight of the vector list (a request's weights.vector overrides it).
   * Unset: 1, or LOCAL_MODEL_VECTOR_WEIGHT with the local model, whose vectors rank far below BM25.
   */
  SEARCH_HYBRID_WEIGHT_VECTOR: z.coerce.number().min(0).max(100).optional(),
  /** Hybrid's default weight of the keyword list. */
  SEARCH_HYBRID_WEIGHT_KEYWORD: num(0, 100, 1),
  /**
   * pgvector hnsw.ef_search of query scans (recall vs latency). 200: at 100,000 chunks (512-d, m 16, every chunk
   * visible) recall@10 against exact search was 0.93–0.95 at 100 and 0.988 at 200, for no measurable latency.
   */
  SEARCH_HNSW_EF_SEARCH: int(10, 1_000, 200),
  /** pgvector hnsw.max_scan_tuples: how far an iterative (filtered) scan may walk before it answers with what it found. */
  SEARCH_HNSW_MAX_SCAN_TUPLES: int(1_000, 10_000_000, 20_000),
  /** Callers who can see at most this many chunks are searched exactly (no HNSW): a filtered index scan finds too few of them cheaply. */
  SEARCH_EXACT_MAX_CHUNKS: int(0, 10_000_000, 2_000),
  /** Callers who can see at most this many chunks get every keyword match of their documents scored (found by document, one exact round) instead of the index-wide GIN rounds. */
  SEARCH_KEYWORD_SCOPE_MAX_CHUNKS: int(0, 10_000_000, 2_000),
  /** BM25 term-frequency saturation. */
  SEARCH_BM25_K1: num(0, 10, 1.2),
  /** BM25 length normalisation (0–1). */
  SEARCH_BM25_B: num(0, 1, 0.75),
  /**
   * Σ document frequency of the rarest query terms whose chunks BM25 scores first, for a caller who sees the whole
   * index (÷ their share for one who sees less, at most ×2); the set widens (×4) while fewer than top_k hits come
   * back. Bounds a keyword query's cost.
   */
  SEARCH_BM25_CANDIDATE_BUDGET: int(1, 10_000_000, 1_000),
  /**
   * Terms in fewer live chunks than this are scored by how many chunks the caller may see hold them (one bounded
   * GIN count per rare term), so scores do not reveal how often a rare term occurs in documents the caller cannot
   * see; commoner terms use the index-wide count. 0 turns it off.
   */
  SEARCH_BM25_SCOPED_DF_BELOW: int(0, 10_000_000, 1_000),
  /** true: exact BM25 top k (MaxScore rounds until no unscored chunk could enter it; cost grows with the index). */
  SEARCH_BM25_EXACT: z.stringbool().default(false),
  /** Connections of the search queries' own pool (besides the indexer's DATABASE_POOL_MAX). */
  SEARCH_QUERY_POOL_MAX: int(1, 200, 10),
  /** statement_timeout of one search query, ms: a runaway query fails instead of holding its connection. */
  SEARCH_QUERY_TIMEOUT_MS: int(100, 600_000, 10_000),
  /** How long plan inputs (models in the index, how many chunks a caller sees) are reused, ms. */
  SEARCH_PLAN_CACHE_MS: int(0, 600_000, 5_000),
};

export type QueryConfig = z.infer<z.ZodObject<typeof queryConfigShape>>;

/**
 * The local model's default vector weight in hybrid: on SciFact (`npm run bench -- search-quality`,
 * weights tuned on 300 train queries, nDCG@10 on the 300 test queries) vector 0.03 / keyword 1 gave
 * 0.688 (0.687 asking for top 10), against keyword alone 0.680, vector alone 0.245 and 0.478 for 1 / 1:
 * the weak vectors help as a tie-breaker among keyword hits, and drown BM25 when weighted alike.
 */
export const LOCAL_MODEL_VECTOR_WEIGHT = 0.03;

/** `model`: the query embedder's identity (`local:…` for the local model). */
export function querySettingsOf(c: QueryConfig, model: string): QuerySettings {
  const vectorWeight = c.SEARCH_HYBRID_WEIGHT_VECTOR ?? (model.startsWith('local:') ? LOCAL_MODEL_VECTOR_WEIGHT : 1);
  if (vectorWeight === 0 && c.SEARCH_HYBRID_WEIGHT_KEYWORD === 0) {
    throw new ConfigError(['SEARCH_HYBRID_WEIGHT_VECTOR / SEARCH_HYBRID_WEIGHT_KEYWORD: must not both be 0']);
  }
  return {
    hybridCandidates: c.SEARCH_HYBRID_CANDIDATES,
    defaultWeights: { vector: vectorWeight, keyword: c.SEARCH_HYBRID_WEIGHT_KEYWORD },
    vector: { efSearch: c.SEARCH_HNSW_EF_SEARCH, maxScanTuples: c.SEARCH_HNSW_MAX_SCAN_TUPLES, exactMaxChunks: c.SEARCH_EXACT_MAX_CHUNKS },
    bm25: { k1: c.SEARCH_BM25_K1, b: c.SEARCH_BM25_B, candidateBudget: c.SEARCH_BM25_CANDIDATE_BUDGET, exact: c.SEARCH_BM25_EXACT, scopedDfBelow: c.SEARCH_BM25_SCOPED_DF_BELOW },
    keywordScopeMaxChunks: c.SEARCH_KEYWORD_SCOPE_MAX_CHUNKS,
  };
}
