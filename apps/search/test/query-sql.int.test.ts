import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokensClause, scopeClause, type Scope, type Viewer } from '../src/query/access.ts';
import { idf, keywordSearch, tfTable } from '../src/query/keyword.query.ts';
import { createPlanInputs } from '../src/query/query-plans.ts';
import { keywordQuery } from '../src/query/tsquery.ts';
import { hnswSessionOptions, PASSAGES_PER_CHUNK_MAX, PASSAGES_PER_CHUNK_MIN, vectorSearch } from '../src/query/vector.query.ts';
import { createQueryPool } from '../src/query/open-search.ts';
import { SqlParams, sqlOver, type Sql } from '../src/query/sql.ts';
import { unitVector } from './support/harness.ts';
import { randomUUID } from 'node:crypto';
import { LONER, USERS, WORDS, makeCorpus, prng, type CorpusDoc } from './query-support/corpus.ts';
import { QUERY_MODEL, startQueryHarness, type QueryHarness } from './query-support/query-harness.ts';

const K1 = 1.2;
const B = 0.75;
const everyone: Scope = { viewer: { userId: USERS[0]!, roles: ['R1', 'R2', 'R3'] }, documentIds: [], tags: [] };

/** Term frequencies of a tsvector's text form: `'lexeme':1,5A 'other':3`. */
function termFrequencies(tsv: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of tsv.matchAll(/'((?:[^']|'')+)'(?::([0-9A-D,]+))?/g)) out.set(m[1]!.replaceAll("''", "'"), m[2] ? m[2].split(',').length : 1);
  return out;
}

/** The SQL under the service, straight: BM25 against a reference written out in plain code, MaxScore rounds, both vector plans. */
describe('query SQL', () => {
  let h: QueryHarness;

  beforeAll(async () => {
    h = await startQueryHarness('query_sql');
    await h.load(makeCorpus(11, { documents: 30, chunks: 10, publicDocs: 3, model: QUERY_MODEL }));
  }, 180_000);

  afterAll(async () => {
    await h?.close();
  });

  const parse = async (text: string) => keywordQuery((await h.sql.query<{ q: string }>(`select websearch_to_tsquery('english', $1)::text as q`, [text]))[0]!.q);

  it("a chunk's access tokens let exactly the viewers see it that its access facts do", async () => {
    const viewers: Viewer[] = [everyone.viewer, { userId: LONER, roles: [] }, { userId: USERS[1]!, roles: ['R2'] }, { userId: null, roles: ['R3'] }, { userId: null, roles: [] }];
    const ids = async (where: (p: SqlParams) => string) => {
      const p = new SqlParams();
      return (await h.sql.query<{ id: string }>(`select c.id from search.chunks c where ${where(p)} order by c.id`, p.values)).map((r) => r.id);
    };
    const sizes = new Set<number>();
    for (const viewer of viewers) {
      const byFacts = await ids((p) => scopeClause('c', { viewer, documentIds: [], tags: [] }, p));
      expect(await ids((p) => `c.live and ${accessTokensClause('c', viewer, p)}`), JSON.stringify(viewer)).toEqual(byFacts);
      sizes.add(byFacts.length);
    }
    // Different viewers see different shares: the comparison is not between empty or whole sets only.
    expect(sizes.size).toBeGreaterThanOrEqual(3);
  });

  it('keyword scores are Okapi BM25 over the live index (k1 1.2, b 0.75), exactly', async () => {
    const [stats] = await h.sql.query<{ total_docs: string; total_length: string }>('select total_docs, total_length from search.stats');
    const n = Number(stats!.total_docs);
    const avg = Number(stats!.total_length) / n;
    expect(n).toBe(300);
    const r = prng(3);
    for (let i = 0; i < 10; i++) {
      const q = await parse(Array.from({ length: 1 + r.int(5) }, () => r.pick(WORDS)).join(' '));
      const got = await keywordSearch(h.sql, q, everyone, 20, { k1: K1, b: B, candidateBudget: 1_000_000, exact: true, scopedDfBelow: 0 });
      const dfs = new Map((await h.sql.query<{ lexeme: string; df: number }>('select lexeme, df from search.terms where lexeme = any($1)', [q.terms])).map((t) => [t.lexeme, t.df]));
      const rows = await h.sql.query<{ id: string; tsv: string; doc_length: number }>(
        'select id, tsv::text as tsv, doc_length from search.chunks where live and tsv @@ $1::tsquery and (is_public or owner_id = $2 or shared_roles && $3)',
        [q.match, everyone.viewer.userId, everyone.viewer.roles],
      );
      const expected = rows
        .map((row) => {
          const tf = termFrequencies(row.tsv);
          const score = q.terms.reduce((sum, t) => {
            const f = tf.get(t) ?? 0;
            const df = dfs.get(t) ?? 0;
            return f === 0 || df === 0 ? sum : sum + (idf(n, df) * f * (K1 + 1)) / (f + K1 * (1 - B + (B * row.doc_length) / avg));
          }, 0);
          return { id: row.id, score: Math.round(score * 1e9) / 1e9 };
        })
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
        .slice(0, 20);
      expect(got.map((g) => [g.id, g.score]), q.match).toEqual(expected.map((e) => [e.id, e.score]));
      got.forEach((g, j) => expect(g.score).toBeCloseTo(expected[j]!.score, 9));
    }
  });

  it('the tf table reads every term frequency of the index, any weights, 1 to 256 positions and none', async () => {
    const table = await tfTable(h.sql);
    const tfOf = `array_position($1::real[], ts_rank('{1,1,1,1}', v.tsv, quote_literal(x.lexeme)::tsquery, 0))`;
    const [index] = await h.sql.query<{ n: string; wrong: string }>(
      `select count(*) as n, count(*) filter (where ${tfOf} is distinct from coalesce(array_length(x.positions, 1), 1)) as wrong
       from (select tsv from search.chunks where live) v cross join lateral unnest(v.tsv) x`,
      [table],
    );
    expect(Number(index!.n)).toBeGreaterThan(1_000);
    expect(Number(index!.wrong)).toBe(0);
    // Positions 1…n with weights cycling A–D, a stripped lexeme, and a word repeated past the 256-position cap.
    const [made] = await h.sql.query<{ n: string; wrong: string }>(
      `with v as (
         select n, (format('x:%s', (select string_agg(j || substr('ABCD', 1 + j % 4, 1), ',') from generate_series(1, n) j)) || ' bare')::tsvector as tsv from generate_series(1, 256) n
         union all select 300, to_tsvector('english', repeat('zinc ', 300))
       )
       select count(*) as n, count(*) filter (where ${tfOf} is distinct from coalesce(array_length(x.positions, 1), 1)) as wrong
       from v cross join lateral unnest(v.tsv) x`,
      [table],
    );
    expect(Number(made!.n)).toBe(256 * 2 + 1);
    expect(Number(made!.wrong)).toBe(0);
  });

  it('exact: MaxScore rounds give the same top k as scoring every matching chunk, from any first budget', async () => {
    const r = prng(4);
    for (let i = 0; i < 15; i++) {
      const q = await parse(Array.from({ length: 2 + r.int(6) }, () => r.pick(WORDS)).join(' '));
      const limit = 1 + r.int(40);
      const full = await keywordSearch(h.sql, q, everyone, limit, { k1: K1, b: B, candidateBudget: 10_000_000, exact: false, scopedDfBelow: 0 });
      for (const budget of [1, 20, 200]) {
        const rounds = await keywordSearch(h.sql, q, everyone, limit, { k1: K1, b: B, candidateBudget: budget, exact: true, scopedDfBelow: 0 });
        expect(rounds.map((x) => x.id), `${q.match} budget ${budget}`).toEqual(full.map((x) => x.id));
      }
    }
  });

  it('plan scope (found by document) ranks exactly as the GIN rounds do, for every scope and filter', async () => {
    const r = prng(6);
    const scopes: Scope[] = [
      everyone,
      { viewer: { userId: LONER, roles: [] }, documentIds: [], tags: [] },
      { viewer: { userId: USERS[1]!, roles: ['R2'] }, documentIds: [], tags: [] },
      { ...everyone, tags: ['t1'] },
    ];
    for (let i = 0; i < 12; i++) {
      const q = await parse(Array.from({ length: 1 + r.int(6) }, () => r.pick(WORDS)).join(' '));
      const limit = 1 + r.int(40);
      // Index-wide document frequencies, and each rare term's count among the chunks the viewer may see (with a
      // filter the scope plan counts them through GIN, without one among the chunks it reads).
      for (const scope of scopes) {
        for (const scopedDfBelow of [0, 1_000]) {
          const settings = { k1: K1, b: B, candidateBudget: 10_000_000, exact: true, scopedDfBelow };
          const viaScope = await keywordSearch(h.sql, q, scope, limit, settings, { plan: 'scope' });
          // The index plan's first round whole (its rare terms counted among the chunks it reads) and in rounds from
          // budget 1 (the rarest term first, the other rare ones counted through GIN).
          for (const candidateBudget of [10_000_000, 1]) {
            const viaIndex = await keywordSearch(h.sql, q, scope, limit, { ...settings, candidateBudget }, { plan: 'index' });
            expect(viaScope, `${q.match} ${JSON.stringify(scope)} scopedDfBelow ${scopedDfBelow} budget ${candidateBudget}`).toEqual(viaIndex);
          }
        }
      }
    }
    const plans = createPlanInputs(h.sql, { exactMaxChunks: 50, keywordScopeMaxChunks: 50, ttlMs: 0 });
    expect((await plans.keywordPlan(everyone)).plan).toBe('index');
    expect((await plans.keywordPlan({ viewer: { userId: LONER, roles: [] }, documentIds: [], tags: [] })).plan).toBe('scope');
  });

  it('budgeted: k hits whenever k chunks match, scored exactly, from chunks holding the rarer terms first', async () => {
    const r = prng(5);
    for (let i = 0; i < 15; i++) {
      const q = await parse(Array.from({ length: 2 + r.int(6) }, () => r.pick(WORDS)).join(' '));
      const limit = 1 + r.int(40);
      // A viewer who sees part of the index, with rare terms scored by their own counts: the whole first round takes
      // those counts from the chunks it reads, budget 1 counts the terms outside it through GIN — the same numbers.
      for (const [scope, scopedDfBelow] of [[everyone, 0], [{ viewer: { userId: USERS[1]!, roles: ['R2'] }, documentIds: [], tags: [] }, 1_000]] as const) {
        const full = await keywordSearch(h.sql, q, scope, 10_000, { k1: K1, b: B, candidateBudget: 10_000_000, exact: false, scopedDfBelow });
        const budgeted = await keywordSearch(h.sql, q, scope, limit, { k1: K1, b: B, candidateBudget: 1, exact: false, scopedDfBelow });
        expect(budgeted.length).toBe(Math.min(limit, full.length));
        const exactScore = new Map(full.map((x) => [x.id, x.score]));
        for (const hit of budgeted) expect(hit.score, `${q.match} ${JSON.stringify(scope)}`).toBe(exactScore.get(hit.id));
        // Best first.
        expect(budgeted.map((x) => x.score)).toEqual([...budgeted.map((x) => x.score)].sort((a, b) => b - a));
      }
    }
  });

  it('budgeted: a term past the budget brings only its chunks that hold another query term, while those give k hits', async () => {
    const r = prng(8);
    let narrowed = 0;
    for (let i = 0; i < 20; i++) {
      const q = await parse(Array.from({ length: 2 + r.int(4) }, () => r.pick(WORDS)).join(' '));
      const limit = 1 + r.int(10);
      // Budget 1: every term is past it, so the first round pairs the rarest term with the others.
      const hits = await keywordSearch(h.sql, q, everyone, limit, { k1: K1, b: B, candidateBudget: 1, exact: false, scopedDfBelow: 0 });
      const unpaired = await keywordSearch(h.sql, q, everyone, limit, { k1: K1, b: B, candidateBudget: 1, exact: true, scopedDfBelow: 0 });
      const rows = await h.sql.query<{ id: string; tsv: string }>('select id, tsv::text as tsv from search.chunks where live and tsv @@ $1::tsquery', [q.match]);
      const held = new Map(rows.map((row) => [row.id, [...termFrequencies(row.tsv).keys()].filter((l) => q.terms.includes(l)).length]));
      const [rarest] = (await h.sql.query<{ lexeme: string }>('select lexeme from search.terms where lexeme = any($1) order by df, lexeme limit 1', [q.terms]));
      const pairedChunks = rows.filter((row) => held.get(row.id)! >= 2 && termFrequencies(row.tsv).has(rarest!.lexeme)).length;
      if (held.size < 2 || pairedChunks < limit) {
        expect(hits.length, q.match).toBe(Math.min(limit, rows.length)); // too few paired chunks: the round ran whole
        continue;
      }
      for (const hit of hits) expect(held.get(hit.id), `${q.match}: ${hit.id}`).toBeGreaterThanOrEqual(2);
      expect(hits).toHaveLength(limit);
      if (unpaired.some((x) => held.get(x.id) === 1)) narrowed++;
    }
    expect(narrowed, 'queries whose unpaired top k held a one-term chunk').toBeGreaterThan(0);
  });

  it('keyword: phrases and exclusions hold, OR widens plain words, PostgreSQL reads the rewritten tsquery back', async () => {
    const q = await parse('protein -membrane "signal pathway"');
    const hits = await keywordSearch(h.sql, q, everyone, 100, { k1: K1, b: B, candidateBudget: 2_000, exact: false, scopedDfBelow: 0 });
    const contents = await h.sql.query<{ id: string; content: string }>('select id, content from search.chunks where id = any($1::uuid[])', [hits.map((x) => x.id)]);
    for (const c of contents) {
      expect(c.content).not.toMatch(/membrane/);
      expect(/protein/.test(c.content) || /signal pathway/.test(c.content), c.content).toBe(true);
    }
    expect(hits.length).toBeGreaterThan(0);
    const and = (await h.sql.query<{ n: string }>(`select count(*) as n from search.chunks where live and tsv @@ websearch_to_tsquery('english', 'protein receptor zinc')`))[0]!.n;
    const or = await keywordSearch(h.sql, await parse('protein receptor zinc'), everyone, 100, { k1: K1, b: B, candidateBudget: 2_000, exact: false, scopedDfBelow: 0 });
    expect(or.length).toBeGreaterThan(Number(and));
  });

  it('vector: HNSW and exact plans agree on a small index, score 1 − cosine distance; the plan follows how much the scope sees', async () => {
    const vector = unitVector(12345);
    const settings = { efSearch: 100, maxScanTuples: 20_000, exactMaxChunks: 50 };
    const req = { vector, model: QUERY_MODEL, scope: everyone, limit: 10 };
    const exact = await vectorSearch(h.sql, req, 'exact', settings);
    const hnsw = await vectorSearch(h.sql, req, 'hnsw', settings);
    expect(hnsw.map((x) => x.id)).toEqual(exact.map((x) => x.id));
    expect(exact).toHaveLength(10);
    const [best] = await h.sql.query<{ d: number }>(
      `select min((embedding::vector(512)) <=> $1::vector(512)) as d from search.passages p where p.live and p.chunk_id = $2`,
      [`[${Array.from(vector).join(',')}]`, exact[0]!.id],
    );
    expect(exact[0]!.score).toBeCloseTo(1 - best!.d, 6);

    const plans = createPlanInputs(h.sql, { exactMaxChunks: 50, keywordScopeMaxChunks: 50, ttlMs: 0 });
    const [seen] = await h.sql.query<{ chunks: number; passages: number }>(
      `select count(distinct chunk_id)::int as chunks, count(*)::int as passages from search.passages p where p.live and p.dims = 512 and (p.is_public or p.owner_id = $1 or p.shared_roles && $2)`,
      [everyone.viewer.userId, everyone.viewer.roles],
    );
    expect(await plans.vectorPlan(everyone, 512)).toEqual({ plan: 'hnsw', passagesPerChunk: Math.min(PASSAGES_PER_CHUNK_MAX, Math.max(PASSAGES_PER_CHUNK_MIN, Math.ceil(seen!.passages / seen!.chunks))) });
    expect((await plans.vectorPlan({ viewer: { userId: LONER, roles: [] }, documentIds: [], tags: [] }, 512)).plan).toBe('exact');
    // No chunks of that dimension: nothing known, the most passages per chunk.
    expect(await plans.vectorPlan(everyone, 1536)).toEqual({ plan: 'exact', passagesPerChunk: PASSAGES_PER_CHUNK_MAX });
    expect(await plans.indexModels()).toEqual([QUERY_MODEL]);
    // A model with no vectors in the index finds nothing (and never another model's vectors).
    expect(await vectorSearch(h.sql, { ...req, model: 'openai:other@512' }, 'exact', settings)).toEqual([]);
    expect(await vectorSearch(h.sql, { ...req, model: 'openai:other@512' }, 'hnsw', settings)).toEqual([]);
  });
  it('vector: an HNSW round that fetches one passage per chunk wanted, on chunks of several, widens until it has the chunks', async () => {
    const settings = { efSearch: 100, maxScanTuples: 20_000, exactMaxChunks: 0 };
    const session = createQueryPool({ DATABASE_URL: h.index.db.url, SEARCH_QUERY_POOL_MAX: 2, SEARCH_QUERY_TIMEOUT_MS: 5_000 }, { options: hnswSessionOptions(settings), name: 'test-hnsw' });
    try {
      const inner = sqlOver(session);
      const rounds: number[] = [];
      const recorded: Sql = {
        query: (text, params) => (rounds.push(Number(params?.at(-2))), inner.query(text, params)),
        transaction: (fn, setup) => inner.transaction((tx) => fn({ ...tx, query: (text, params) => (rounds.push(Number(params?.at(-2))), tx.query(text, params)) }), setup),
      };
      let widened = 0;
      for (const seed of [12345, 4242, 99, 7, 31337]) {
        const req = { vector: unitVector(seed), model: QUERY_MODEL, scope: everyone, limit: 40 };
        rounds.length = 0;
        const one = await vectorSearch(h.sql, { ...req, passagesPerChunk: 1 }, 'hnsw', settings, recorded);
        // Rounds fetch 40 passages, then 80, 160: where the nearest 40 hold fewer than 40 chunks (1–3 passages each here), the round doubled.
        expect(rounds).toEqual([40, 80, 160].slice(0, rounds.length));
        if (rounds.length > 1) widened++;
        expect(one).toHaveLength(40);
        expect(one.map((x) => x.id)).toEqual((await vectorSearch(h.sql, req, 'exact', settings)).map((x) => x.id));
      }
      expect(widened).toBeGreaterThan(0);
    } finally {
      await session.end();
    }
  });

  it('vector: HNSW connections opened with the session settings answer in one statement, as the SET LOCAL transaction does', async () => {
    const settings = { efSearch: 120, maxScanTuples: 15_000, exactMaxChunks: 50 };
    const session = createQueryPool({ DATABASE_URL: h.index.db.url, SEARCH_QUERY_POOL_MAX: 2, SEARCH_QUERY_TIMEOUT_MS: 5_000 }, { options: hnswSessionOptions(settings), name: 'test-hnsw' });
    try {
      const [shown] = (await session.query<Record<string, string>>(`select current_setting('hnsw.ef_search') as ef, current_setting('hnsw.iterative_scan') as scan, current_setting('hnsw.max_scan_tuples') as tuples, current_setting('enable_seqscan') as seqscan, current_setting('statement_timeout') as timeout`)).rows;
      expect(shown).toEqual({ ef: '120', scan: 'relaxed_order', tuples: '15000', seqscan: 'off', timeout: '5s' });
      const statements: string[] = [];
      const inner = sqlOver(session);
      const recorded: Sql = {
        query: (text, params) => (statements.push(text.trim().split(/\s+/)[0]!), inner.query(text, params)),
        transaction: (fn, setup) => (statements.push(`transaction: ${setup ?? ''}`), inner.transaction(fn, setup)),
      };
      for (const [seed, viewer] of [[12345, everyone], [777, { viewer: { userId: USERS[1]!, roles: [] }, documentIds: [], tags: [] }]] as const) {
        // 10 chunks (30 passages, ef 120): the session's ef_search, one statement; 50 (150 passages): a transaction with its own.
        for (const limit of [10, 50]) {
          statements.length = 0;
          const req = { vector: unitVector(seed), model: QUERY_MODEL, scope: viewer, limit };
          const viaSession = await vectorSearch(h.sql, req, 'hnsw', settings, recorded);
          expect(viaSession).toEqual(await vectorSearch(h.sql, req, 'hnsw', settings));
          expect(viaSession.length).toBeGreaterThan(0);
          expect(statements[0]).toBe(limit === 10 ? 'with' : 'transaction: set local hnsw.ef_search = 150; set local hnsw.iterative_scan = relaxed_order; set local hnsw.max_scan_tuples = 15000; set local enable_seqscan = off; set local enable_bitmapscan = off; set local enable_sort = off');
        }
      }
    } finally {
      await session.end();
    }
  });

  // Last: it adds documents to the index the tests above count.
  it('a rare term is scored by how many chunks the caller may see hold it, not by the index-wide count', async () => {
    const doc = (ownerId: string, isPublic: boolean, contents: string[]): CorpusDoc => {
      const documentId = randomUUID();
      const access = { ownerId, isPublic, sharedRoles: [], tags: [], title: 'Codename file', accessSeq: 1 };
      const chunks = contents.map((content, c) => ({ content, headingPath: [], pageStart: 1, pageEnd: 1, passages: [unitVector(900 + c)] }));
      return { documentId, access, version: { documentId, version: 1, model: QUERY_MODEL, dimensions: 512, access, chunks } };
    };
    // One public chunk with the codename, five in a private document of USERS[1] that LONER cannot see.
    await h.load([doc(USERS[2]!, true, ['The bluefalcon memo was filed.']), doc(USERS[1]!, false, Array.from({ length: 5 }, (_, i) => `bluefalcon budget line ${i}.`))]);
    const q = await parse('bluefalcon');
    const [stats] = await h.sql.query<{ total_docs: string; total_length: string }>('select total_docs, total_length from search.stats');
    const n = Number(stats!.total_docs);
    const avg = Number(stats!.total_length) / n;
    const [own] = await h.sql.query<{ id: string; document_id: string; doc_length: number }>(`select id, document_id, doc_length from search.chunks where live and is_public and tsv @@ 'bluefalcon'::tsquery`);
    const bm25 = (df: number) => Math.round(((idf(n, df) * (K1 + 1)) / (1 + K1 * (1 - B + (B * own!.doc_length) / avg))) * 1e9) / 1e9;
    const settings = { k1: K1, b: B, candidateBudget: 2_000, exact: false };
    const loner = { viewer: { userId: LONER, roles: ['R9'] }, documentIds: [], tags: [] };

    const scoped = await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 1_000 });
    expect(scoped).toEqual([{ id: own!.id, score: bm25(1) }]);
    // The scope plan (a caller who sees few chunks) counts the same, unfiltered and filtered to the chunk's document.
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope' })).toEqual(scoped);
    expect(await keywordSearch(h.sql, q, { ...loner, documentIds: [own!.document_id] }, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope' })).toEqual(scoped);
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 0 }, { plan: 'scope' })).toEqual([{ id: own!.id, score: bm25(6) }]);
    // Index-wide counts (the switch off, or a term commoner than the bound) give the six away.
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 0 })).toEqual([{ id: own!.id, score: bm25(6) }]);
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 6 })).toEqual([{ id: own!.id, score: bm25(6) }]);
    // The private document's owner sees all six: their count is the index's.
    const owner = await keywordSearch(h.sql, q, { viewer: { userId: USERS[1]!, roles: [] }, documentIds: [], tags: [] }, 10, { ...settings, scopedDfBelow: 1_000 });
    expect(owner.find((x) => x.id === own!.id)?.score).toBe(bm25(6));
    expect(owner).toHaveLength(6);
    // A term only hidden chunks hold ranks nothing and counts for nothing.
    expect(await keywordSearch(h.sql, await parse('budget'), loner, 10, { ...settings, scopedDfBelow: 1_000 })).toEqual([]);
    expect(await keywordSearch(h.sql, await parse('budget'), loner, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope' })).toEqual([]);
    expect(await keywordSearch(h.sql, await parse('bluefalcon budget'), loner, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope' })).toEqual(scoped);
    // The plan inputs' count of what the viewer sees (filters aside) keeps the scoped count while it is short of the
    // index's; only a count equal to the index's (a viewer who sees every chunk) skips it.
    const plans = createPlanInputs(h.sql, { exactMaxChunks: 50, keywordScopeMaxChunks: 50, ttlMs: 0 });
    const { viewerChunks: lonerChunks } = await plans.keywordPlan({ ...loner, documentIds: [own!.id], tags: ['no-such-tag'] });
    const [seen] = await h.sql.query<{ n: string }>(`select count(*) as n from search.chunks c where c.live and (c.is_public or c.owner_id = $1 or c.shared_roles && $2::text[])`, [LONER, ['R9']]);
    expect(lonerChunks).toBe(Number(seen!.n));
    expect(lonerChunks).toBeLessThan(n);
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 1_000 }, { viewerChunks: lonerChunks })).toEqual([{ id: own!.id, score: bm25(1) }]);
    expect(await keywordSearch(h.sql, q, loner, 10, { ...settings, scopedDfBelow: 1_000 }, { viewerChunks: n })).toEqual([{ id: own!.id, score: bm25(6) }]);
    for (const documentIds of [[], [own!.document_id]]) {
      expect(await keywordSearch(h.sql, q, { ...loner, documentIds }, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope', viewerChunks: lonerChunks })).toEqual([{ id: own!.id, score: bm25(1) }]);
      expect(await keywordSearch(h.sql, q, { ...loner, documentIds }, 10, { ...settings, scopedDfBelow: 1_000 }, { plan: 'scope', viewerChunks: n })).toEqual([{ id: own!.id, score: bm25(6) }]);
    }
  });
});
