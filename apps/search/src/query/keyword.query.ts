import { scopeClause, type Scope } from './access.ts';
import type { RankedHit } from './rrf.ts';
import { SqlParams, type Sql } from './sql.ts';
import type { KeywordQuery } from './tsquery.ts';

export interface Bm25Settings {
  /** Term-frequency saturation. */
  readonly k1: number;
  /** Length normalisation (0 = none, 1 = full). */
  readonly b: number;
  /** Σ document frequency of the rarest terms whose chunks are scored in the first round (then ×4 per round). */
  readonly candidateBudget: number;
  /**
   * true: exact top k (MaxScore: rounds go on until no unscored chunk could
   * still enter the top k). false: a round that yields k hits stands — chunks
   * holding none of the rarer terms are not scored (they rarely rank: on
   * SciFact the difference is within ±0.002 nDCG@10), and the cost stays
   * bounded by the budget instead of growing with the index.
   */
  readonly exact: boolean;
}

export interface TermStat {
  readonly lexeme: string;
  readonly idf: number;
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
 * `bound` is the most any chunk holding none of them can score — Σ idf·(k1+1)
 * of the others — so a round whose k-th score reaches it is exact.
 */
export function essentialTerms(terms: readonly TermStat[], budget: number, after: number, k1: number): { count: number; bound: number } {
  let count = 0;
  let df = 0;
  while (count < terms.length && (count <= after || df + terms[count]!.df <= budget)) df += terms[count++]!.df;
  const bound = terms.slice(count).reduce((sum, t) => sum + t.idf * (k1 + 1), 0);
  return { count, bound };
}

/** N, average length and idf of the query's terms, rarest first (terms in no live chunk are dropped: nothing has them). */
export async function corpusStats(sql: Sql, terms: readonly string[]): Promise<CorpusStats> {
  // One round trip: the stats row, with the query's terms joined on (none: one row with null lexeme).
  const rows = await sql.query<{ total_docs: string; total_length: string; lexeme: string | null; df: number | null }>(
    'select s.total_docs, s.total_length, t.lexeme, t.df from search.stats s left join search.terms t on t.lexeme = any($1::text[]) and t.df > 0',
    [terms],
  );
  const totalDocs = Number(rows[0]?.total_docs ?? 0);
  return {
    totalDocs,
    avgLength: totalDocs > 0 ? Math.max(1, Number(rows[0]?.total_length ?? 0) / totalDocs) : 1,
    terms: rows
      .filter((r): r is typeof r & { lexeme: string; df: number } => r.lexeme !== null && r.df !== null)
      .map((r) => ({ lexeme: r.lexeme, df: r.df, idf: idf(totalDocs, r.df) }))
      .sort((a, b) => a.df - b.df || (a.lexeme < b.lexeme ? -1 : 1)),
  };
}

const orOf = (lexemes: readonly string[]) => lexemes.map((l) => `'${l.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`).join(' | ');

/**
 * Keyword hits, best first, scored by Okapi BM25 over the query's terms
 * (term frequencies from the chunk's tsvector, document frequencies and
 * lengths from search.terms / search.stats). Matching is the OR form of the
 * web-search query (exclusions and phrases kept). In rounds: score the
 * chunks holding one of the rarest terms (GIN), widen the set while there
 * are fewer than `limit` hits — or, when `exact`, until the k-th score beats
 * what any chunk outside the set could reach (MaxScore).
 */
export async function keywordSearch(sql: Sql, query: KeywordQuery, scope: Scope, limit: number, settings: Bm25Settings): Promise<RankedHit[]> {
  if (!query.match) return [];
  const stats = await corpusStats(sql, query.terms);
  if (stats.terms.length === 0) return [];
  const { k1, b } = settings;
  let budget = settings.candidateBudget;
  let count = 0;
  for (;;) {
    const round = essentialTerms(stats.terms, budget, count, k1);
    count = round.count;
    const p = new SqlParams();
    const essential = p.add(orOf(stats.terms.slice(0, count).map((t) => t.lexeme)));
    const match = p.add(query.match);
    const where = scopeClause('c', scope, p);
    const lexemes = p.add(stats.terms.map((t) => t.lexeme));
    const idfs = p.add(stats.terms.map((t) => t.idf));
    const [k1p, bp, avg, lim] = [p.add(k1), p.add(b), p.add(stats.avgLength), p.add(limit)];
    // Scores rounded to 1e-9: equal scores tie exactly whatever order the sum ran in, and break by id.
    const rows = await sql.query<{ id: string; score: number }>(
      `with cand as (
         select c.id, c.tsv, c.doc_length from search.chunks c
         where c.tsv @@ ${essential}::tsquery and c.tsv @@ ${match}::tsquery and ${where}
       )
       select cand.id, round(sum(w.idf * u.tf * (${k1p}::float8 + 1) / (u.tf + ${k1p}::float8 * (1 - ${bp}::float8 + ${bp}::float8 * cand.doc_length / ${avg}::float8)))::numeric, 9)::float8 as score
       from cand
       cross join lateral (select x.lexeme, coalesce(array_length(x.positions, 1), 1) as tf from unnest(cand.tsv) x where x.lexeme = any(${lexemes}::text[])) u
       join unnest(${lexemes}::text[], ${idfs}::float8[]) as w(lexeme, idf) on w.lexeme = u.lexeme
       group by cand.id order by score desc, cand.id limit ${lim}`,
      p.values,
    );
    const kth = rows.length >= limit ? rows[limit - 1]!.score : Number.NEGATIVE_INFINITY;
    const enough = settings.exact ? kth >= round.bound : rows.length >= limit;
    if (count >= stats.terms.length || enough) return rows.map((r) => ({ id: r.id, score: r.score }));
    budget *= 4;
  }
}
