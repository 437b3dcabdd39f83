import { createEmbeddingProvider, type EmbeddingConfig, type EmbeddingProvider } from '@csda/embeddings';
import type { HealthState, Lifecycle, Logger, Metrics } from '@csda/service-kit';
import pg from 'pg';
import { querySettingsOf, type QueryConfig } from './query-config.ts';
import { createQueryMetrics } from './query-metrics.ts';
import { createPlanInputs } from './query-plans.ts';
import { createSearchService, type SearchService } from './search.service.ts';
import { sqlOver } from './sql.ts';
import { hnswSessionOptions } from './vector.query.ts';

export interface QueriesConfig extends QueryConfig, EmbeddingConfig {
  readonly DATABASE_URL: string;
}

/**
 * The search queries' own connection pool: real bind parameters (a query
 * vector travels once, as one parameter), JIT off (its compile time, ~100 ms,
 * dwarfs a search) and a statement timeout, so a runaway query gives its
 * connection back. `session`: more libpq options for every connection (the
 * HNSW pool's settings), `name` its application_name.
 */
export function createQueryPool(
  config: Pick<QueriesConfig, 'DATABASE_URL' | 'SEARCH_QUERY_POOL_MAX' | 'SEARCH_QUERY_TIMEOUT_MS'>,
  session: { readonly options: string; readonly name: string } = { options: '', name: 'search-queries' },
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.SEARCH_QUERY_POOL_MAX,
    options: `-c jit=off -c statement_timeout=${Math.trunc(config.SEARCH_QUERY_TIMEOUT_MS)} ${session.options}`.trim(),
    application_name: session.name,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Readiness detail of the query embedder; never failing: keyword search (and hybrid, degraded) works without it. */
function embedderCheck(provider: EmbeddingProvider, logger: Logger) {
  let state = provider.ready ? 'loading' : 'ready';
  provider.ready?.().then(
    () => (state = 'ready'),
    (err: unknown) => {
      state = `unavailable: ${err instanceof Error ? err.message : String(err)}`;
      logger.warn({ err }, 'query embedding provider unavailable: vector search answers 503, hybrid degrades to keyword');
    },
  );
  return async () => ({ ok: true, detail: `${provider.model} ${state}` });
}

/**
 * Opens what queries need — the embedding provider (EMBEDDING_*) and the
 * query pool — closes both on shutdown, and returns the search service.
 */
export function openQueries(
  runtime: { readonly lifecycle: Pick<Lifecycle, 'defer'>; readonly health: Pick<HealthState, 'addCheck'>; readonly logger: Logger; readonly metrics: Pick<Metrics, 'registry'> },
  config: QueriesConfig,
): SearchService & { readonly model: string } {
  const embedder = createEmbeddingProvider({ ...config });
  runtime.lifecycle.defer('embedding provider', () => embedder.close());
  runtime.health.addCheck('query embeddings', embedderCheck(embedder, runtime.logger));
  const settings = querySettingsOf(config, embedder.model);
  const pool = createQueryPool(config);
  runtime.lifecycle.defer('search query pool', () => pool.end());
  // HNSW queries on connections whose sessions start with their settings: one round trip each.
  const hnswPool = createQueryPool(config, { options: hnswSessionOptions(settings.vector), name: 'search-hnsw' });
  runtime.lifecycle.defer('search HNSW query pool', () => hnswPool.end());
  runtime.logger.info({ model: embedder.model, dimensions: embedder.dimensions }, 'queries embedded with this model');
  const sql = sqlOver(pool);
  const search = createSearchService({
    sql,
    hnswSql: sqlOver(hnswPool),
    embedder,
    settings,
    metrics: createQueryMetrics(runtime.metrics.registry),
    plans: createPlanInputs(sql, { exactMaxChunks: settings.vector.exactMaxChunks, keywordScopeMaxChunks: settings.keywordScopeMaxChunks, ttlMs: config.SEARCH_PLAN_CACHE_MS }),
  });
  return Object.assign(search, { model: embedder.model });
}
