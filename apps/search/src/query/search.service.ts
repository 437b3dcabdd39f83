import { requireScoped, subjectOf, type Principal } from '@csda/auth';
import { AppError } from '@csda/errors';
import type { Scope } from './access.ts';
import { loadChunks, type ChunkView } from './chunks.query.ts';
import { keywordSearch, type Bm25Settings } from './keyword.query.ts';
import type { QueryMetrics } from './query-metrics.ts';
import type { PlanInputs } from './query-plans.ts';
import { fuseRrf, type ListPosition, type RankedHit } from './rrf.ts';
import { parseSearchRequest, SEARCH_MODES, type FusionWeights, type SearchMode, type SearchQuery, type SearchRequestInput } from './search-request.ts';
import type { Sql } from './sql.ts';
import { keywordQuery, type KeywordQuery } from './tsquery.ts';
import { vectorSearch, type VectorSettings } from './vector.query.ts';

/** The part of an embedding provider (@csda/embeddings) queries use. */
export interface QueryEmbedder {
  readonly model: string;
  readonly dimensions: number;
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]>;
}

export interface QuerySettings {
  /** Candidates taken from each list before hybrid fuses them. */
  readonly hybridCandidates: number;
  readonly defaultWeights: FusionWeights;
  readonly vector: VectorSettings;
  readonly bm25: Bm25Settings;
  /** Callers who see at most this many chunks: keyword plan `scope`. */
  readonly keywordScopeMaxChunks: number;
}

export interface SearchDeps {
  readonly sql: Sql;
  /** Connections opened with `hnswSessionOptions(settings.vector)`, for HNSW queries (default: `sql`, the settings sent per query). */
  readonly hnswSql?: Sql;
  readonly embedder: QueryEmbedder;
  readonly plans: PlanInputs;
  readonly settings: QuerySettings;
  readonly metrics?: QueryMetrics;
}

export type ListName = 'vector' | 'keyword';

export interface SearchHitView extends ChunkView {
  readonly score: number;
  readonly lists: Readonly<Partial<Record<ListName, ListPosition>>>;
}

export interface SearchResult {
  readonly hits: readonly SearchHitView[];
  /** The mode that ran. */
  readonly mode: SearchMode;
  readonly degraded: boolean;
  readonly degradedReason: string;
  /** The model that embedded the query ('' when none did). */
  readonly model: string;
}

/** The index holds vectors of other models than the one queries are embedded with (`indexModels`: those others). */
export class ModelMismatchError extends AppError {
  constructor(indexModels: readonly string[], queryModel: string) {
    super(
      'CONFLICT',
      `The search index was built with ${indexModels.join(', ')}, but queries are embedded with ${queryModel}: vectors of different models cannot be compared. Reindex the documents with ${queryModel} (or configure the embedding provider the index was built with).`,
      { details: { index_model: indexModels.join(','), query_model: queryModel, fix: 'reindex' } },
    );
  }
}

const isUnavailable = (err: unknown) => err instanceof AppError && err.code === 'EXTERNAL_SERVICE_ERROR';

const ranked = (hits: readonly RankedHit[], list: ListName) => hits.map((h, i) => ({ id: h.id, score: h.score, lists: { [list]: { rank: i + 1, score: h.score } } }));

/** Search for a user: validation, the three modes, degradation, and the chunks behind the ranking. */
export function createSearchService(deps: SearchDeps) {
  const { sql, hnswSql, embedder, plans, settings, metrics } = deps;

  const parse = async (text: string): Promise<KeywordQuery> => {
    const [row] = await sql.query<{ q: string }>(`select websearch_to_tsquery('english', $1)::text as q`, [text]);
    return keywordQuery(row?.q ?? '');
  };

  /** The query's vector, or why there is none (provider down, index of another model). */
  const embed = async (text: string, signal?: AbortSignal): Promise<Float32Array> => {
    const others = (await plans.indexModels()).filter((m) => m !== embedder.model);
    if (others.length > 0) throw new ModelMismatchError(others, embedder.model);
    const [vector] = await embedder.embed([text], { signal });
    if (!vector) throw new Error('the embedding provider returned no vector');
    return vector;
  };

  const vectorList = async (q: SearchQuery, scope: Scope, limit: number, signal?: AbortSignal) => {
    const vector = await embed(q.text, signal);
    const { plan, passagesPerChunk } = await plans.vectorPlan(scope, vector.length);
    metrics?.plan(plan);
    return vectorSearch(sql, { vector, model: embedder.model, scope, limit, passagesPerChunk }, plan, settings.vector, hnswSql);
  };

  const keywordList = async (keyword: KeywordQuery, scope: Scope, limit: number) => {
    const inputs = await plans.keywordPlan(scope);
    metrics?.keywordPlan(inputs.plan);
    return keywordSearch(sql, keyword, scope, limit, settings.bm25, inputs);
  };

  const run = async (principal: Principal, input: SearchRequestInput, options: { signal?: AbortSignal }): Promise<SearchResult> => {
    requireScoped(principal, 'search:query');
    const q = parseSearchRequest(input, settings.defaultWeights);
    const subject = subjectOf(principal);
    const scope: Scope = { viewer: { userId: subject.id, roles: subject.roles }, documentIds: q.documentIds, tags: q.tags };
    // The query is embedded while PostgreSQL parses it and the keyword list runs: the two lists overlap.
    const limit = q.mode === 'hybrid' ? Math.max(settings.hybridCandidates, q.topK) : q.topK;
    const vectors = q.mode === 'keyword' ? undefined : vectorList(q, scope, limit, options.signal);
    // Observed here so a failing parse cannot leave it rejected with nobody listening; awaited below.
    vectors?.catch(() => undefined);
    const keyword = await parse(q.text);

    let mode: SearchMode = q.mode;
    let degradedReason = '';
    let fused: { id: string; score: number; lists: Partial<Record<ListName, ListPosition>> }[];
    if (!vectors) {
      fused = ranked(await keywordList(keyword, scope, limit), 'keyword');
    } else if (q.mode === 'vector') {
      fused = ranked(await vectors, 'vector');
    } else {
      const [words, vectorHits] = await Promise.allSettled([keywordList(keyword, scope, limit), vectors]);
      if (words.status === 'rejected') throw words.reason;
      if (vectorHits.status === 'rejected') {
        if (!isUnavailable(vectorHits.reason) && !(vectorHits.reason instanceof ModelMismatchError)) throw vectorHits.reason;
        mode = 'keyword';
        degradedReason = vectorHits.reason instanceof ModelMismatchError ? `vector search unavailable: ${vectorHits.reason.message}` : 'vector search unavailable: the embedding provider is down; keyword results only';
        fused = ranked(words.value.slice(0, q.topK), 'keyword');
      } else {
        fused = fuseRrf<ListName>([
          { name: 'vector', weight: q.weights.vector, hits: vectorHits.value },
          { name: 'keyword', weight: q.weights.keyword, hits: words.value },
        ]);
      }
    }

    const kept = fused.filter((h) => q.minScore === undefined || h.score >= q.minScore).slice(0, q.topK);
    const chunks = await loadChunks(sql, kept.map((h) => h.id), scope, keyword.match);
    const hits: SearchHitView[] = [];
    for (const h of kept) {
      const chunk = chunks.get(h.id);
      if (chunk) hits.push({ ...chunk, score: h.score, lists: h.lists });
    }
    return { hits, mode, degraded: degradedReason !== '', degradedReason, model: mode === 'keyword' ? '' : embedder.model };
  };

  return {
    async search(principal: Principal, input: SearchRequestInput, options: { signal?: AbortSignal } = {}): Promise<SearchResult> {
      const started = performance.now();
      const mode = input.mode || 'hybrid';
      try {
        const result = await run(principal, input, options);
        metrics?.query({ mode, ran: result.mode, outcome: result.degraded ? 'degraded' : 'ok' }, (performance.now() - started) / 1_000);
        return result;
      } catch (err) {
        metrics?.query({ mode: SEARCH_MODES.includes(mode as SearchMode) ? mode : 'invalid', ran: 'none', outcome: 'error' }, (performance.now() - started) / 1_000);
        throw err;
      }
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;
