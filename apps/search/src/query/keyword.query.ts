import { accessTokensClause, scopeClause, type Scope } from './access.ts';
import type { RankedHit } from './rrf.ts';
import { SqlParams, type Sql } from './sql.ts';
import type { KeywordQuery } from './tsquery.ts';

export interface Bm25Settings {
  /** Term-frequency saturation. */
  readonly k1: number;
  /** Length normalisation (0 = none, 1 = full). */
  readonly b: number;
  /**
   * Σ document frequency of the rarest terms whose chunks are scored in the
   * first round (then ×4 per round), for a caller who sees the whole index;
   * see `roundBudget` for one who sees a share of it.
   */
  readonly candidateBudget: number;
  /**
   * true: exact top k (MaxScore: rounds go on until no unscored chunk could
   * still enter the top k). false: a round that yields k hits stands — chunks
   * holding none of the rarer terms are not scored (they rarely rank: on
   * SciFact the difference is within ±0.002 nDCG@10), and the cost stays
   * bounded by the budget instead of growing with the index.
   */
  readonly exact: boolean;
  /**
   * Terms in fewer live chunks than this get their document frequency counted
   * among the chunks the caller may see (so a score never tells how many
   * chunks they cannot see hold a rare term); more common ones use the
   * index-wide count. 0: index-wide for every term.
   */
  readonly scopedDfBelow: number;
}

export interface TermStat {
  readonly lexeme: string;
  /** From the document frequency BM25 scores with: the caller's own count for a rare term. */
  readonly idf: number;
  /** Live chunks holding the term, index-wide: what fetching its chunks through GIN costs. */
  readonly df: number;
}

export interface CorpusStats {
  readonly totalDocs: number;
  readonly avgLength: number;
  readonly terms: readonly TermStat[];
}

/** BM25's idf (the non-negative form Lucene uses): ln(1 + (N − df + 0.5) / (df + 0.5)). */
export const idf = (totalDocs: number, df: number) => Math.log(1 + (totalDocs - df + 0.5) / (df + 0.5));

/**
 * Which terms' chunks a round scores: the rarest terms (they decide the top
 * of a BM25 ranking) while their document frequencies stay within
 * `budget`, at least one more than `after` (the previous round's count).
 */
export function essentialTerms(terms: readonly TermStat[], budget: number, after: number): number {
  let count = 0;
  let df = 0;
  while (count < terms.length && (count <= after || df + terms[count]!.df <= budget)) df += terms[count++]!.df;
  return count;
}

/**
 * The most a chunk holding none of the first `count` terms can score —
 * Σ idf·(k1+1) of the others — so a round over those terms whose k-th score
 * reaches it is exact (MaxScore).
 */
export const maxScoreBound = (terms: readonly TermStat[], count: number, k1: number) => terms.slice(count).reduce((sum, t) => sum + t.idf * (k1 + 1), 0);

/** How far `roundBudget` widens the first round for a caller who sees a share of the index. */
export const BUDGET_SCALE_MAX = 2;

/**
 * The first round's budget (index-wide document frequencies) for a caller
 * who sees `scopeChunks` of `totalChunks`: `candidateBudget` ÷ their share,
 * at most ×BUDGET_SCALE_MAX. A round fetches its terms' chunks index-wide and
 * scores the ones the caller may see, so a caller who sees a tenth would
 * otherwise get a tenth of the candidates, and miss hits holding only their
 * rarer terms. 100,000 chunks, 500 queries, top 10 against exact BM25: a
 * caller seeing everything 0.998 at 1,000 and at 2,000 (p50/p95 7.4/14.6 →
 * 5.1/9.4 ms from 2,000 to 1,000); one seeing 10 % 0.900 at 1,000, 0.935 at
 * 2,000, 0.950 at 3,000 (p50/p95 7.4/14.6 → 9.6/17.2 ms from 2,000 to 3,000).
 * Unknown share (`scopeChunks` undefined): unscaled.
 */
export function roundBudget(candidateBudget: number, totalChunks: number, scopeChunks: number | undefined): number {
  if (scopeChunks === undefined || totalChunks <= 0) return candidateBudget;
  return Math.round(candidateBudget * Math.min(BUDGET_SCALE_MAX, Math.max(1, totalChunks / Math.max(1, scopeChunks))));
}

/** tsquery text of the OR of `lexemes`, each quoted as tsquery input wants it. */
const orOf = (lexemes: readonly string[]) => lexemes.map((l) => `'${l.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`).join(' | ');

/**
 * Budgeted rounds only: the round's tsquery with each term more common than
 * the first round's budget (`common`) narrowed to its chunks that hold
 * another of the query's terms — `'cancer' & ('risk' | 'smoke')` — and the
 * rarer ones whole; undefined when no term is that common (or the query has
 * one term). A chunk holding no query term but one common one scores at
 * most that term's idf·(k1+1), and common terms have the lowest idf: it
 * rarely outranks a chunk holding two. When the narrowed round yields k hits
 * it stands and the rest of the common term's chunks are not scored
 * (100,000 chunks, 150 queries of 3–6 words, caller seeing everything, A/B
 * in one process on a loaded machine: raw keyword p50 26.0 → 18.4 ms, p95
 * 64.6 → 45.6 ms; top 10 against exact BM25 0.995 either way).
 */
export function pairedEssentials(essential: readonly TermStat[], all: readonly TermStat[], common: number): string | undefined {
  if (all.length < 2 || !essential.some((t) => t.df > common)) return undefined;
  return essential
    .map((t) => (t.df > common ? `(${orOf([t.lexeme])} & (${orOf(all.filter((o) => o !== t).map((o) => o.lexeme))}))` : orOf([t.lexeme])))
    .join(' | ');
}

/** Which chunks a keyword query scores: through the GIN index in rounds, or every match of the few the caller can see. */
export type KeywordPlan = 'index' | 'scope';

export interface KeywordOptions {
  /** Default `index`. */
  readonly plan?: KeywordPlan;
  /** Live chunks the viewer may see, filters aside (the plan inputs' count): see `firstRound`. */
  readonly viewerChunks?: number;
  /** Live chunks the scope (viewer and filters) sees: sizes the first round (`roundBudget`). */
  readonly scopeChunks?: number;
  /** Live chunks in the index (the plan inputs' count): sizes the first round (`roundBudget`). */
  readonly totalChunks?: number;
}

/**
 * Term frequencies without unnesting tsvectors. `ts_rank` with every weight 1
 * and no normalisation scores a one-lexeme query by the lexeme's position
 * count alone (Σ 1/j² over its positions, scaled), a strictly increasing
 * value that PostgreSQL computes the same way every time; a tsvector keeps
 * at most 256 positions per lexeme (a lexeme without positions counts as
 * one). So the tf of a term in a chunk is the index of its ts_rank in this
 * ascending table of ts_rank for 1…256 positions (`width_bucket`; 0 for an
 * absent term, whose rank is 0), made once per pool by PostgreSQL itself and
 * sent back as text, bit for bit — unnesting every lexeme of every candidate
 * cost about twice as much.
 */
const TF_TABLE_SQL = `select array_agg(r order by n)::text as t from (
    select n, ts_rank('{1,1,1,1}', ('x:' || (select string_agg(j::text, ',') from generate_series(1, n) j))::tsvector, 'x'::tsquery, 0) as r
    from generate_series(1, 256) n
  ) s`;
const tfTables = new WeakMap<Sql, Promise<string>>();

export function tfTable(sql: Sql): Promise<string> {
  let table = tfTables.get(sql);
  if (!table) {
    table = sql.query<{ t: string }>(TF_TABLE_SQL).then(([row]) => row!.t);
    tfTables.set(sql, table);
    table.catch(() => tfTables.delete(sql));
  }
  return table;
}

/** SQL for a term's frequency in `tsv`: its index in the tf table (`width_bucket`, a binary search; 0 where the term is absent). */
const tfSql = (tsv: string, term: string, table: string) => `width_bucket(ts_rank('{1,1,1,1}', ${tsv}, ${term}, 0), ${table}::real[])`;

/**
 * SQL for a chunk's BM25 score, from its `tf` array and `doc_length` and
 * each term's idf (`idfs[i]`, SQL), rounded to 1e-9 so equal scores tie
 * exactly and break by id. `k1`, `b`, `avg`: SQL for the settings and the
 * average length.
 */
function scoreSql(idfs: readonly string[], k1: string, b: string, avg: string): string {
  const norm = `${k1}::float8 * (1 - ${b}::float8 + ${b}::float8 * doc_length / ${avg}::float8)`;
  // greatest(): with k1 = 0 an absent term (tf 0) would divide 0 by 0; a present one has tf + norm ≥ 1.
  const sum = idfs.map((idf, i) => `${idf} * tf[${i + 1}] / greatest(tf[${i + 1}] + ${norm}, 1e-9)`).join(' + ');
  return `round((${k1}::float8 + 1) * (${sum}) * 1e9) / 1e9`;
}

/**
 * The BM25 ranking of the chunks `cand` selects (`id, tsv, doc_length`):
 * each term's frequency read once per chunk from its tsvector (`tfSql`),
 * the score summed per chunk in one expression (`scoreSql`) — no row per
 * chunk and term, no grouping — with idf and average length from the stats.
 */
function bm25Sql(cand: string, p: SqlParams, stats: CorpusStats, settings: Bm25Settings, limit: number, tfs: string): string {
  const table = p.add(tfs);
  const [k1, b, avg, lim] = [p.add(settings.k1), p.add(settings.b), p.add(stats.avgLength), p.add(limit)];
  const tf = stats.terms.map((t) => tfSql('cand.tsv', `${p.add(orOf([t.lexeme]))}::tsquery`, table));
  const score = scoreSql(stats.terms.map((t) => `${p.add(t.idf)}::float8`), k1, b, avg);
  return `with cand as (${cand}),
     tf as materialized (select cand.id, cand.doc_length, array[${tf.join(', ')}] as tf from cand)
     select id, ${score} as score
     from tf order by score desc, id limit ${lim}`;
}

/**
 * Plan `scope` in one statement: the statistics, the document frequencies,
 * every matching chunk of the documents the scope sees (found by document)
 * and their BM25 ranking — what `corpusStats` and `bm25Sql` compute, with
 * the same formulas. A rare term's visible count (see `corpusStats`) is
 * counted among the chunks read anyway when the scope is all the viewer sees
 * (no filters): every visible chunk that holds a query term is read to find
 * the matches; with filters it is counted through GIN as `corpusStats`
 * does. A term no visible chunk holds gets idf 0 (it adds nothing, as
 * dropping it does). 100,000 chunks, a caller who sees 1 %, hybrid top 10
 * in-process: the statistics then the round p50/p95 5.6/11.2 + 5.4/7.9 ms,
 * this statement 8.0/12.6 ms.
 */
async function scopeSearch(sql: Sql, query: KeywordQuery, scope: Scope, limit: number, settings: Bm25Settings, viewerChunks: number | undefined, tfs: string): Promise<RankedHit[]> {
  const p = new SqlParams();
  const n = query.terms.length;
  const lexemes = p.add(query.terms);
  const termQueries = p.add(query.terms.map((t) => orOf([t])));
  const anyTerm = p.add(orOf(query.terms));
  const match = p.add(query.match);
  const [below, seen, table] = [p.add(settings.scopedDfBelow), p.add(viewerChunks ?? null), p.add(tfs)];
  const [k1, b, lim] = [p.add(settings.k1), p.add(settings.b), p.add(limit)];
  const filtered = scope.documentIds.length > 0 || scope.tags.length > 0;
  const documents = scopeClause('d', scope, p, 'documents');
  const rows = scopeClause('c', scope, p);
  const terms = Array.from({ length: n }, (_, i) => i + 1);
  const tf = terms.map((i) => tfSql('c.tsv', `(${termQueries}::tsquery[])[${i}]`, table));
  // ts_match_vq is what @@ calls, written as a function so the planner cannot AND the chunks of the documents
  // with a GIN bitmap of the terms' chunks index-wide (after ANALYZE it did: 5.8 ms per document at 1 % instead
  // of 0.1). The viewer's count of each rare term: among the chunks read (no filters: they are every visible chunk
  // holding a query term), or one bounded GIN count each over what the viewer may see.
  const visibleDf = filtered
    ? `(select array_agg(case when t.df > 0 and t.df < ${below} and s.live_chunks is distinct from ${seen}::bigint then (select count(*) from search.chunks c where c.tsv @@ t.term and ${scopeClause('c', { viewer: scope.viewer, documentIds: [], tags: [] }, p)}) end order by t.i) from t, s)`
    : `(select array[${terms.map((i) => `count(*) filter (where tf[${i}] > 0)`).join(', ')}] from read)`;
  // BM25's idf as `idf` computes it.
  const idfOf = (df: string) => `ln(1 + (s.total_docs - ${df}::float8 + 0.5) / (${df}::float8 + 0.5))`;
  const score = scoreSql(terms.map((i) => `idf.v[${i}]`), k1, b, 's.avg');
  return sql.query<RankedHit>(
    `with s as (select total_docs::float8 as total_docs, total_docs as live_chunks,
         greatest(1, coalesce(total_length::float8 / nullif(total_docs, 0), 1)) as avg from search.stats),
       t as (select w.i, w.term, coalesce(st.df, 0) as df
         from unnest(${lexemes}::text[], ${termQueries}::tsquery[]) with ordinality as w(lexeme, term, i) left join search.terms st on st.lexeme = w.lexeme),
       read as materialized (select c.id, c.doc_length, c.tsv @@ ${match}::tsquery as matches, array[${tf.join(', ')}] as tf
         from search.documents d join search.chunks c on c.document_id = d.document_id and c.version = d.live_version
         where ${documents} and ts_match_vq(c.tsv, ${anyTerm}::tsquery) and ${rows}),
       idf as materialized (select array_agg(case when t.df = 0 then 0
           when t.df < ${below} and s.live_chunks is distinct from ${seen}::bigint then ${idfOf('v.df[t.i]')}
           else ${idfOf('t.df')} end order by t.i) as v
         from t, s, (select ${visibleDf} as df) v)
     select id, ${score} as score
     from read, idf, s where matches order by score desc, id limit ${lim}`,
    p.values,
  );
}

/** What the first `index` round found, with what later rounds go on from. */
interface FirstRound {
  readonly stats: CorpusStats;
  /** How many of `stats.terms` (the rarest) the round fetched the chunks of. */
  readonly count: number;
  /** The round fetched only the chunks of its common term that hold another query term (`pairedEssentials`). */
  readonly paired: boolean;
  readonly rows: RankedHit[];
}

interface FirstRoundRow {
  total_docs: number;
  avg: number;
  paired: boolean;
  terms: { lexeme: string; df: number; idf: number; essential: boolean }[] | null;
  hits: RankedHit[];
}

/**
 * Plan `index`'s first round in one statement: N, the average length and
 * each term's document frequency; which of the rarest terms fit `budget`
 * (`essentialTerms`, and `pairedEssentials` when the rarest alone is past it
 * and `exact` is off); the chunks holding them that the scope sees (GIN);
 * and their BM25 ranking (`bm25Sql`'s formulas). Before, the statistics were
 * a round trip of their own: 100,000 chunks, a caller who sees 10 %, hybrid
 * in-process, the statistics took p50/p95 3.8/7.4 ms, most of it counting
 * rare terms' chunks through GIN that the round then fetched again.
 *
 * A term in fewer than `scopedDfBelow` live chunks is scored by how many of
 * the chunks the viewer may see hold it — the index-wide count would let a
 * caller who knows N and the average length (their own chunks' scores give
 * both away) read, from their scores, how many chunks they cannot see
 * contain a guessed term. When the round reads every chunk the viewer may
 * see that holds the term (it is one of the round's terms, the round is not
 * paired, no `document_ids`/`tags` filter), that count is taken from the
 * chunks read; otherwise it walks the term's GIN posting list (at most
 * `scopedDfBelow` chunks) under the viewer's access. A term no visible chunk
 * holds scores 0 and is left out of later rounds, as is one no live chunk
 * holds. `viewerChunks` (the plan inputs' count, at most SEARCH_PLAN_CACHE_MS
 * old) equal to the index's live count: the viewer sees every chunk, their
 * counts are the index-wide ones, and none is counted.
 */
async function firstRound(sql: Sql, query: KeywordQuery, scope: Scope, limit: number, settings: Bm25Settings, budget: number, viewerChunks: number | undefined, tokens: boolean, tfs: string): Promise<FirstRound> {
  const p = new SqlParams();
  const n = query.terms.length;
  const lexemes = p.add(query.terms);
  const termQueries = p.add(query.terms.map((t) => orOf([t])));
  const match = p.add(query.match);
  const [below, seen, table, budgetSql] = [p.add(settings.scopedDfBelow), p.add(viewerChunks ?? null), p.add(tfs), p.add(budget)];
  const [k1, b, lim] = [p.add(settings.k1), p.add(settings.b), p.add(limit)];
  const rows = roundRows(scope, p, tokens);
  const viewerRows = roundRows({ viewer: scope.viewer, documentIds: [], tags: [] }, p, tokens);
  const readsViewer = scope.documentIds.length === 0 && scope.tags.length === 0;
  const terms = Array.from({ length: n }, (_, i) => i + 1);
  const tf = terms.map((i) => tfSql('c.tsv', `(${termQueries}::tsquery[])[${i}]`, table));
  const idfOf = (df: string) => `ln(1 + (s.total_docs - ${df}::float8 + 0.5) / (${df}::float8 + 0.5))`;
  const score = scoreSql(terms.map((i) => `idf.v[${i}]`), k1, b, 's.avg');
  // `t`: the terms some live chunk holds, rarest first, with their running Σ df. The GIN scan's tsquery comes from
  // `q` (an InitPlan): the OR of the terms within budget, or the rarest AND any other when it alone is past it.
  const [row] = await sql.query<FirstRoundRow>(
    `with s as (select total_docs::float8 as total_docs, total_docs as live_chunks,
         greatest(1, coalesce(total_length::float8 / nullif(total_docs, 0), 1)) as avg from search.stats),
       w as (select * from unnest(${lexemes}::text[], ${termQueries}::tsquery[]) with ordinality as w(lexeme, term, i)),
       t as (select w.i, w.term, st.df, row_number() over o as r, sum(st.df) over o as cum
         from w join search.terms st on st.lexeme = w.lexeme and st.df > 0
         window o as (order by st.df, w.lexeme collate "C" rows unbounded preceding)),
       e as (select t.*, (t.r = 1 or t.cum <= ${budgetSql}::float8) as essential from t),
       plan as (select ${settings.exact ? 'false' : `(select count(*) >= 2 and coalesce(min(t.df) filter (where t.r = 1) > ${budgetSql}::float8, false) from t)`} as paired),
       q as (select case when (select paired from plan)
           then '(' || (select term::text from t where r = 1) || ') & (' || (select string_agg(term::text, ' | ') from t where r > 1) || ')'
           else (select string_agg(term::text, ' | ' order by r) from e where essential) end::tsquery as q),
       cand as materialized (select c.id, c.doc_length, c.tsv @@ ${match}::tsquery as matches, array[${tf.join(', ')}] as tf
         from search.chunks c where c.tsv @@ (select q from q) and ${rows}),
       counted as (select array[${terms.map((i) => `count(*) filter (where tf[${i}] > 0)`).join(', ')}] as c from cand),
       v as materialized (select w.i, w.lexeme, t.df, t.r, t.essential,
           case when t.df < ${below} and (select live_chunks from s) is distinct from ${seen}::bigint then
             case when ${readsViewer} and t.essential and not (select paired from plan)
               then ((select c from counted))[w.i]
               else (select count(*) from search.chunks c where c.tsv @@ w.term and ${viewerRows}) end
           end as visible
         from w left join e t on t.i = w.i),
       vi as materialized (select v.*, case when v.df is null or v.visible = 0 then 0 else ${idfOf('coalesce(v.visible, v.df)')} end as idf from v, s),
       idf as (select array_agg(vi.idf order by vi.i) as v from vi)
     select s.total_docs, s.avg, (select paired from plan),
       (select json_agg(json_build_object('lexeme', lexeme, 'df', df, 'idf', idf, 'essential', essential) order by r) from vi where df is not null and visible is distinct from 0) as terms,
       (select coalesce(json_agg(json_build_object('id', id, 'score', score) order by score desc, id), '[]') from
         (select id, ${score} as score from cand, idf, s where matches order by score desc, id limit ${lim}) top) as hits
     from s`,
    p.values,
  );
  const found = row?.terms ?? [];
  return {
    stats: { totalDocs: Number(row?.total_docs ?? 0), avgLength: Number(row?.avg ?? 1), terms: found.map(({ lexeme, df, idf: i }) => ({ lexeme, df, idf: i })) },
    count: found.filter((t) => t.essential).length,
    paired: row?.paired ?? false,
    rows: row?.hits ?? [],
  };
}

/** `scopeClause`, with the viewer's access tokens when `tokens` (see ACCESS_TOKENS_BELOW_SHARE). */
const roundRows = (scope: Scope, p: SqlParams, tokens: boolean) => (tokens ? `${scopeClause('c', scope, p)} and ${accessTokensClause('c', scope.viewer, p)}` : scopeClause('c', scope, p));

/**
 * Plan `index`: a viewer who sees less than this share of the index (the plan
 * inputs' counts; unknown counts: always) has the GIN scans of their rounds
 * and rare-term counts ask for their access tokens too (`accessTokensClause`),
 * so only chunks they may see are fetched. One who sees more gains little
 * from it, and a token as common as `role:ADMIN` would make the scan walk a
 * posting list of nearly the whole index.
 */
export const ACCESS_TOKENS_BELOW_SHARE = 0.5;

/**
 * Keyword hits, best first, scored by Okapi BM25 over the query's terms
 * (term frequencies from the chunk's tsvector, document frequencies and
 * lengths from search.terms / search.stats). Matching is the OR form of the
 * web-search query (exclusions and phrases kept).
 *
 * Plan `index`: in rounds — score the chunks holding one of the rarest terms
 * (GIN; a term past the budget only where another query term is too, while
 * that gives `limit` hits: `pairedEssentials`; otherwise the round is scored
 * whole, its paired chunks a second time), widen the set while there are
 * fewer than `limit` hits — or, when `exact`, until the k-th score beats what
 * any chunk outside the set could reach (MaxScore). Plan `scope` (a caller
 * who sees few chunks): every matching chunk of the documents they can see,
 * found by document, in one exact round — the GIN rounds would fetch and
 * drop the rest of the index's matches, widening again and again.
 */
export async function keywordSearch(sql: Sql, query: KeywordQuery, scope: Scope, limit: number, settings: Bm25Settings, options: KeywordOptions = {}): Promise<RankedHit[]> {
  const { plan = 'index', viewerChunks, scopeChunks, totalChunks } = options;
  if (!query.match) return [];
  const tfs = await tfTable(sql);
  if (plan === 'scope') return scopeSearch(sql, query, scope, limit, settings, viewerChunks, tfs);
  const firstBudget = roundBudget(settings.candidateBudget, totalChunks ?? 0, scopeChunks);
  const tokens = viewerChunks === undefined || !totalChunks || viewerChunks < totalChunks * ACCESS_TOKENS_BELOW_SHARE;
  const first = await firstRound(sql, query, scope, limit, settings, firstBudget, viewerChunks, tokens, tfs);
  const { stats } = first;
  if (stats.terms.length === 0) return [];
  const scoreRound = async (essential: string) => {
    const p = new SqlParams();
    const terms = p.add(essential);
    const match = p.add(query.match);
    const where = roundRows(scope, p, tokens);
    // The match (ts_match_vq: what @@ calls) filters the rows fetched; as an index condition it would walk the
    // GIN posting lists of every query term, the commonest too, for each round (6 of a round's 12 ms at 10 %).
    const cand = `select c.id, c.tsv, c.doc_length from search.chunks c where c.tsv @@ ${terms}::tsquery and ts_match_vq(c.tsv, ${match}::tsquery) and ${where}`;
    return sql.query<RankedHit>(bm25Sql(cand, p, stats, settings, limit, tfs), p.values);
  };
  const essentials = (count: number) => orOf(stats.terms.slice(0, count).map((t) => t.lexeme));
  let { count, rows, paired } = first;
  let budget = firstBudget;
  for (;;) {
    if (paired && rows.length >= limit) return rows;
    if (paired) rows = await scoreRound(essentials(count));
    const kth = rows.length >= limit ? rows[limit - 1]!.score : Number.NEGATIVE_INFINITY;
    const enough = settings.exact ? kth >= maxScoreBound(stats.terms, count, settings.k1) : rows.length >= limit;
    if (count >= stats.terms.length || enough) return rows;
    budget *= 4;
    count = essentialTerms(stats.terms, budget, count);
    const pairedQuery = settings.exact ? undefined : pairedEssentials(stats.terms.slice(0, count), stats.terms, firstBudget);
    paired = pairedQuery !== undefined;
    rows = await scoreRound(pairedQuery ?? essentials(count));
  }
}
