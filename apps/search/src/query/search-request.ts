import { ValidationError } from '@csda/errors';

/**
 * A search request as it arrives (proto SearchRequest mapped to plain data):
 * optional fields are undefined when the caller left them out.
 */
export interface SearchRequestInput {
  readonly query: string;
  readonly mode: string;
  readonly topK: number | undefined;
  readonly minScore: number | undefined;
  readonly documentIds: readonly string[];
  readonly tags: readonly string[];
  readonly weights: { readonly vector: number | undefined; readonly keyword: number | undefined } | undefined;
}

export const SEARCH_MODES = ['vector', 'keyword', 'hybrid'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

/** Longest query, in characters after trimming (a query is a question, not a document). */
export const QUERY_MAX_CHARS = 1_000;
export const TOP_K_MAX = 100;
export const TOP_K_DEFAULT = 10;
export const FILTER_MAX_DOCUMENT_IDS = 100;
export const FILTER_MAX_TAGS = 20;
export const TAG_MAX_CHARS = 100;
/** Largest weight of one list in hybrid fusion. */
export const WEIGHT_MAX = 100;

/** Reciprocal rank fusion's k (Cormack et al. 2009): a hit at rank r adds weight / (k + r). */
export const RRF_K = 60;

/**
 * What `score` means in each mode, and so what `min_score` filters on:
 *
 * - `vector`: 1 − cosine distance between the query's vector and the chunk's
 *   best-matching passage, in [−1, 1] (1 = same direction). min_score in [−1, 1].
 * - `keyword`: the chunk's Okapi BM25 score for the query's terms over the
 *   live index (k1, b configurable), ≥ 0 and unbounded; comparable only
 *   between hits of the same query. min_score ≥ 0.
 * - `hybrid`: the weighted reciprocal-rank-fusion sum Σ wᵢ / (60 + rankᵢ)
 *   over the lists the chunk appears in, so at most (w_vector + w_keyword) / 61;
 *   it ranks, it does not measure relevance. min_score ≥ 0. When hybrid
 *   degrades to keyword (no embedding), scores are BM25 and min_score applies
 *   to them.
 */
export const MIN_SCORE_RANGE: Readonly<Record<SearchMode, { readonly min: number; readonly max: number }>> = {
  vector: { min: -1, max: 1 },
  keyword: { min: 0, max: Number.MAX_VALUE },
  hybrid: { min: 0, max: Number.MAX_VALUE },
};

export interface FusionWeights {
  readonly vector: number;
  readonly keyword: number;
}

/** A validated search: what the queries run. */
export interface SearchQuery {
  readonly text: string;
  readonly mode: SearchMode;
  readonly topK: number;
  readonly minScore: number | undefined;
  readonly documentIds: readonly string[];
  readonly tags: readonly string[];
  readonly weights: FusionWeights;
}

// eslint-disable-next-line no-control-regex -- NUL and other C0 controls (tab, newline aside) have no place in a query or tag
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isMode = (m: string): m is SearchMode => (SEARCH_MODES as readonly string[]).includes(m);

function checkWeight(name: 'vector' | 'keyword', value: number | undefined, fallback: number, bad: Record<string, string>): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || value > WEIGHT_MAX) {
    bad[`weights.${name}`] = `must be a number from 0 to ${WEIGHT_MAX}`;
    return fallback;
  }
  return value;
}

/**
 * Checks a request and returns the search it asks for, or throws one
 * ValidationError naming every bad field (`query`, `mode`, `top_k`,
 * `min_score`, `filters.document_ids.3`, `weights.vector`, …). An empty mode
 * is hybrid (the default); `weights` matter only to hybrid and are otherwise
 * ignored; `defaultWeights` are the operator's (tuned) ones.
 */
export function parseSearchRequest(input: SearchRequestInput, defaultWeights: FusionWeights): SearchQuery {
  const bad: Record<string, string> = {};
  const text = input.query.trim();
  if (text.length === 0) bad.query = 'must not be empty';
  else if ([...text].length > QUERY_MAX_CHARS) bad.query = `must be at most ${QUERY_MAX_CHARS} characters`;
  else if (CONTROL.test(text)) bad.query = 'must not contain control characters';

  const mode = input.mode === '' ? 'hybrid' : input.mode;
  if (!isMode(mode)) bad.mode = `must be one of ${SEARCH_MODES.join(', ')}`;

  const topK = input.topK ?? TOP_K_DEFAULT;
  if (!Number.isInteger(topK) || topK < 1 || topK > TOP_K_MAX) bad.top_k = `must be an integer from 1 to ${TOP_K_MAX}`;

  if (input.minScore !== undefined && isMode(mode)) {
    const range = MIN_SCORE_RANGE[mode];
    if (!Number.isFinite(input.minScore) || input.minScore < range.min || input.minScore > range.max) {
      bad.min_score = mode === 'vector' ? 'must be from -1 to 1 in vector mode (1 - cosine distance)' : `must be a number ≥ 0 in ${mode} mode`;
    }
  }

  if (input.documentIds.length > FILTER_MAX_DOCUMENT_IDS) bad['filters.document_ids'] = `at most ${FILTER_MAX_DOCUMENT_IDS} ids`;
  else {
    const index = input.documentIds.findIndex((id) => !UUID.test(id));
    if (index >= 0) bad[`filters.document_ids.${index}`] = 'must be a UUID';
  }
  if (input.tags.length > FILTER_MAX_TAGS) bad['filters.tags'] = `at most ${FILTER_MAX_TAGS} tags`;
  else {
    const index = input.tags.findIndex((t) => t.length === 0 || [...t].length > TAG_MAX_CHARS || CONTROL.test(t));
    if (index >= 0) bad[`filters.tags.${index}`] = `must be 1 to ${TAG_MAX_CHARS} characters without control characters`;
  }

  const weights = {
    vector: checkWeight('vector', input.weights?.vector, defaultWeights.vector, bad),
    keyword: checkWeight('keyword', input.weights?.keyword, defaultWeights.keyword, bad),
  };
  if (weights.vector === 0 && weights.keyword === 0 && !bad['weights.vector'] && !bad['weights.keyword']) bad.weights = 'vector and keyword must not both be 0';

  if (Object.keys(bad).length > 0) throw new ValidationError('Invalid search request', bad);
  return {
    text,
    mode: mode as SearchMode,
    topK,
    minScore: input.minScore,
    documentIds: [...new Set(input.documentIds.map((id) => id.toLowerCase()))],
    tags: [...new Set(input.tags)],
    weights,
  };
}
