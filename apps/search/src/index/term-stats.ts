// BM25 statistics over live chunks, kept in the transaction that changes what
// is live: search.terms (lexeme → live chunks containing it) and search.stats
// (live chunk count, total doc_length). Callers collect the change first
// (before rows are deleted, after they are made live), then apply it last:
// terms in lexeme order, then the stats row, so concurrent writers lock in one
// order and never deadlock (document row → chunk rows → terms → stats).

/** Runs SQL in the caller's transaction. */
export type Run = <T = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<T[]>;

export class TermDelta {
  readonly df = new Map<string, number>();
  docs = 0;
  length = 0;

  get empty(): boolean {
    return this.docs === 0 && this.length === 0 && [...this.df.values()].every((n) => n === 0);
  }
}

/**
 * Adds (`sign` 1) or subtracts (-1) the chunks matching `condition` (SQL over
 * `c`, a search.chunks alias, with `params`) to `delta`.
 */
export async function collectTerms(run: Run, delta: TermDelta, condition: string, params: readonly unknown[], sign: 1 | -1): Promise<void> {
  const [totals] = await run<{ docs: number; length: string }>(`select count(*)::int as docs, coalesce(sum(c.doc_length), 0)::text as length from search.chunks c where ${condition}`, params);
  if (!totals || totals.docs === 0) return;
  delta.docs += sign * totals.docs;
  delta.length += sign * Number(totals.length);
  const rows = await run<{ lexeme: string; n: number }>(`select t.lexeme, count(*)::int as n from search.chunks c, unnest(c.tsv) t where ${condition} group by t.lexeme`, params);
  for (const { lexeme, n } of rows) delta.df.set(lexeme, (delta.df.get(lexeme) ?? 0) + sign * n);
}

/** Applies `delta` to search.terms and search.stats; lexemes no live chunk contains any more are removed. */
export async function applyTermDelta(run: Run, delta: TermDelta): Promise<void> {
  const changes = [...delta.df].filter(([, n]) => n !== 0).map(([lexeme, df]) => ({ lexeme, df }));
  if (changes.length > 0) {
    const updated = await run<{ lexeme: string; df: number }>(
      `insert into search.terms as t (lexeme, df)
       select d.lexeme, d.df from json_to_recordset(?::json) as d(lexeme text, df integer) order by d.lexeme collate "C"
       on conflict (lexeme) do update set df = t.df + excluded.df
       returning t.lexeme, t.df`,
      [JSON.stringify(changes)],
    );
    const gone = updated.filter((r) => r.df <= 0).map((r) => r.lexeme);
    if (gone.length > 0) await run(`delete from search.terms where lexeme in (select json_array_elements_text(?::json)) and df <= 0`, [JSON.stringify(gone)]);
  }
  if (delta.docs !== 0 || delta.length !== 0) await run('update search.stats set total_docs = total_docs + ?, total_length = total_length + ?', [delta.docs, delta.length]);
}
