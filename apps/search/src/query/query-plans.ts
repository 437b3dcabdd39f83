import type { Scope } from './access.ts';
import type { Sql } from './sql.ts';
import type { KeywordOptions } from './keyword.query.ts';
import { passagesPerChunk, visibleChunks, type VectorPlan, type VisibleCounts } from './vector.query.ts';

/**
 * A small time-bounded memo: plan inputs (models in the index, how much a
 * scope sees) change slowly and decide nothing about access, so reading
 * them once every few seconds per key is enough.
 */
export function memo<T>(ttlMs: number, maxEntries: number, now: () => number = Date.now) {
  const entries = new Map<string, { at: number; value: Promise<T> }>();
  return (key: string, load: () => Promise<T>): Promise<T> => {
    const hit = entries.get(key);
    if (hit && now() - hit.at < ttlMs) return hit.value;
    const value = load();
    entries.delete(key);
    entries.set(key, { at: now(), value });
    // A failed read is not remembered.
    value.catch(() => entries.get(key)?.value === value && entries.delete(key));
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    return value;
  };
}

export interface PlanInputs {
  /** Models that made the vectors of live documents. */
  indexModels(): Promise<readonly string[]>;
  /**
   * HNSW, or an exact scan for a scope that sees few chunks of `dims`; with
   * how many passages an HNSW round fetches per chunk wanted (`passagesPerChunk`).
   */
  vectorPlan(scope: Scope, dims: number): Promise<{ plan: VectorPlan; passagesPerChunk: number }>;
  /**
   * The GIN rounds, or every match of a scope that sees few chunks; with the
   * counts keywordSearch sizes its work by — live chunks the scope sees,
   * those its viewer may see with no filter (every dimension together), and
   * the index's.
   */
  keywordPlan(scope: Scope): Promise<Required<KeywordOptions>>;
}

/** The plan inputs over the index, memoised for `ttlMs` (0 = read every time). */
export function createPlanInputs(sql: Sql, options: { exactMaxChunks: number; keywordScopeMaxChunks: number; ttlMs: number; now?: () => number }): PlanInputs {
  const models = memo<readonly string[]>(options.ttlMs, 1, options.now);
  const live = memo<number>(options.ttlMs, 1, options.now);
  const counts = memo<ReadonlyMap<number, VisibleCounts>>(options.ttlMs, 1_000, options.now);
  /** Visible live chunks by dimension, one read per scope for both plans. */
  const visible = (scope: Scope) =>
    counts(JSON.stringify([scope.viewer.userId, [...scope.viewer.roles].sort(), scope.documentIds, scope.tags]), () => visibleChunks(sql, scope));
  const total = (byDims: ReadonlyMap<number, VisibleCounts>) => {
    let n = 0;
    for (const c of byDims.values()) n += c.chunks;
    return n;
  };
  return {
    indexModels: () =>
      models('models', async () =>
        (await sql.query<{ model: string }>('select distinct model from search.documents where live_version is not null and model is not null order by model')).map((r) => r.model),
      ),
    async vectorPlan(scope, dims) {
      const seen = (await visible(scope)).get(dims);
      return { plan: (seen?.chunks ?? 0) <= options.exactMaxChunks ? 'exact' : 'hnsw', passagesPerChunk: passagesPerChunk(seen) };
    },
    async keywordPlan(scope) {
      const [[scopeChunks, viewerChunks], totalChunks] = await Promise.all([
        Promise.all([visible(scope), visible({ viewer: scope.viewer, documentIds: [], tags: [] })]).then((counts) => counts.map(total) as [number, number]),
        live('live', async () => Number((await sql.query<{ n: string }>('select total_docs as n from search.stats'))[0]?.n ?? 0)),
      ]);
      return { plan: scopeChunks <= options.keywordScopeMaxChunks ? 'scope' : 'index', scopeChunks, viewerChunks, totalChunks };
    },
  };
}
