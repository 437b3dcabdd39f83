// The search service's statements run straight from a pg pool (no gateway,
// no RPC, no embedding call): the floor the benchmark's ratios divide by, and
// the exact ground truth its recall is measured against. They mirror
// apps/search/src/query (vector.query.ts, keyword.query.ts, access.ts) with the
// service's default settings; tools may not import apps, so they are restated.
import pg from 'pg';

export interface RawViewer {
  readonly userId: string;
  readonly roles: readonly string[];
  /** Passages an HNSW query fetches per chunk wanted (`rawPassagesPerChunk`; unknown: 3). */
  readonly passagesPerChunk?: number;
}

const VISIBLE = (a: string) => `${a}.live and (${a}.is_public or ${a}.owner_id = $2 or ${a}.shared_roles && $3::text[])`;

export const vectorType = (dims: number) => (dims === 1536 ? `halfvec(${dims})` : `vector(${dims})`);
export const literal = (v: Float32Array) => `[${Array.from(v, (x) => Number(x.toPrecision(9))).join(',')}]`;

export function rawPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, options: '-c jit=off' });
  pool.on('error', () => undefined);
  return pool;
}

/** What the service's plan inputs give an HNSW query for `viewer`: their visible passages per visible chunk of `dims`, rounded up, 2–3. */
export async function rawPassagesPerChunk(pool: pg.Pool, viewer: RawViewer, dims: number): Promise<number> {
  const { rows } = await pool.query<{ r: string | null }>(
    `select ceil(sum(passage_count)::numeric / nullif(sum(chunk_count), 0)) as r from search.documents d
     where d.live_version is not null and (d.is_public or d.owner_id = $1 or d.shared_roles && $2::text[]) and d.dims = $3`,
    [viewer.userId, viewer.roles, dims],
  );
  return Math.min(3, Math.max(2, Number(rows[0]?.r ?? 3) || 3));
}

/** HNSW path: iterative scan with the access filter per row, best passage per chunk (as the service with its defaults). */
export async function rawVectorHnsw(pool: pg.Pool, v: Float32Array, dims: number, model: string, viewer: RawViewer, k: number): Promise<string[]> {
  const type = vectorType(dims);
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(
      `set local hnsw.ef_search = ${Math.max(200, (viewer.passagesPerChunk ?? 3) * k)}; set local hnsw.iterative_scan = relaxed_order; set local hnsw.max_scan_tuples = 20000; ` +
        'set local enable_seqscan = off; set local enable_bitmapscan = off; set local enable_sort = off',
    );
    const { rows } = await client.query<{ chunk_id: string }>(
      `with hits as materialized (
         select p.chunk_id, (p.embedding::${type}) <=> $1::${type} as distance from search.passages p
         where p.dims = ${dims} and p.model = $4 and ${VISIBLE('p')}
         order by (p.embedding::${type}) <=> $1::${type} limit $5)
       select chunk_id from hits group by chunk_id order by min(distance), chunk_id limit $6`,
      [literal(v), viewer.userId, viewer.roles, model, (viewer.passagesPerChunk ?? 3) * k, k],
    );
    await client.query('commit');
    return rows.map((r) => r.chunk_id);
  } finally {
    client.release();
  }
}

/** Exact nearest chunks the viewer may see (float32 distances over every visible passage): the ground truth. */
export async function rawVectorExact(pool: pg.Pool, v: Float32Array, dims: number, model: string, viewer: RawViewer, k: number): Promise<string[]> {
  const { rows } = await pool.query<{ chunk_id: string }>(
    `select p.chunk_id from search.passages p
     where p.dims = ${dims} and p.model = $4 and ${VISIBLE('p')}
     group by p.chunk_id order by min(p.embedding <=> $1::vector), p.chunk_id limit $5`,
    [literal(v), viewer.userId, viewer.roles, model, k],
  );
  return rows.map((r) => r.chunk_id);
}

/** The service's exact plan for small scopes: the viewer's documents first, then their live passages, exact distances. */
export async function rawVectorByDocuments(pool: pg.Pool, v: Float32Array, dims: number, model: string, viewer: RawViewer, k: number): Promise<string[]> {
  const type = vectorType(dims);
  const { rows } = await pool.query<{ chunk_id: string }>(
    `with visible as (select d.document_id, d.live_version from search.documents d
       where d.live_version is not null and (d.is_public or d.owner_id = $2 or d.shared_roles && $3::text[]) and d.dims = ${dims} and d.model = $4)
     select p.chunk_id from visible v join search.passages p on p.document_id = v.document_id and p.version = v.live_version
     where p.dims = ${dims} and p.model = $4 and ${VISIBLE('p')}
     group by p.chunk_id order by min((p.embedding::${type}) <=> $1::${type}), p.chunk_id limit $5`,
    [literal(v), viewer.userId, viewer.roles, model, k],
  );
  return rows.map((r) => r.chunk_id);
}

const tfTables = new WeakMap<pg.Pool, Promise<string>>();

/** The service's tf table (keyword.query.ts): ts_rank, every weight 1, of one lexeme with 1…256 positions. */
function tfTable(pool: pg.Pool): Promise<string> {
  let table = tfTables.get(pool);
  if (!table) {
    table = pool
      .query<{ t: string }>(
        `select array_agg(r order by n)::text as t from (select n, ts_rank('{1,1,1,1}', ('x:' || (select string_agg(j::text, ',') from generate_series(1, n) j))::tsvector, 'x'::tsquery, 0) as r from generate_series(1, 256) n) s`,
      )
      .then((r) => r.rows[0]!.t);
    tfTables.set(pool, table);
  }
  return table;
}

/**
 * BM25 over the OR of the query's terms as the service runs it (no phrases or exclusions in bench
 * queries): plan `index` = budgeted GIN rounds (SEARCH_BM25_CANDIDATE_BUDGET 1,000 ÷ `share`, the viewer's
 * fraction of the index, at most ×2), `scope` = every match of the viewer's documents.
 */
export async function rawKeyword(pool: pg.Pool, text: string, viewer: RawViewer, k: number, plan: 'index' | 'scope', share = 1): Promise<{ id: string; score: number }[]> {
  const seesAll = share >= 1;
  const budget = Math.round(1_000 * Math.min(2, Math.max(1, 1 / Math.max(share, 1e-9))));
  const { rows: parsed } = await pool.query<{ lexemes: string[] | null }>(`select tsvector_to_array(to_tsvector('english', $1)) as lexemes`, [text]);
  const lexemes = parsed[0]?.lexemes ?? [];
  if (lexemes.length === 0) return [];
  const { rows: stats } = await pool.query<{ total_docs: string; total_length: string }>('select total_docs, total_length from search.stats');
  const n = Number(stats[0]!.total_docs);
  const avg = Math.max(1, Number(stats[0]!.total_length) / n);
  const quote = (l: string) => `'${l.replaceAll("'", "''")}'`;
  // A viewer who sees less than half the index has their access tokens in the GIN scans (ACCESS_TOKENS_BELOW_SHARE).
  const tokens = ['public', `user:${viewer.userId}`, ...viewer.roles.map((r) => `role:${r}`)];
  const narrow = (param: number) => (share < 0.5 ? ` and c.access && $${param}::text[]` : '');
  // Terms in fewer than 1,000 chunks (SEARCH_BM25_SCOPED_DF_BELOW) count only the chunks the viewer may see —
  // unless the viewer sees every chunk (the service compares its count of what they see with the index's).
  const { rows: counted } = await pool.query<{ lexeme: string; df: number; visible: string | null }>(
    `select t.lexeme, t.df, case when t.df < 1000 and not ${seesAll} then (select count(*) from search.chunks c where c.tsv @@ w.q and ${VISIBLE('c')}${narrow(5)}) end as visible
     from unnest($1::text[], $4::tsquery[]) w(lexeme, q) join search.terms t on t.lexeme = w.lexeme and t.df > 0 order by t.df, t.lexeme`,
    [lexemes, viewer.userId, viewer.roles, lexemes.map(quote), ...(share < 0.5 ? [tokens] : [])],
  );
  const dfs = counted.filter((t) => t.visible !== '0');
  if (dfs.length === 0) return [];
  const idfs = dfs.map((t) => {
    const df = t.visible === null ? t.df : Number(t.visible);
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  });
  const table = await tfTable(pool);
  const terms = dfs.map((t) => quote(t.lexeme));
  // Each term's tf read once per candidate (width_bucket in the ascending tf table), summed in one expression.
  const tf = terms.map((_, i) => `width_bucket(ts_rank('{1,1,1,1}', cand.tsv, $${7 + 2 * i}::tsquery, 0), $6::real[])`);
  const bm25 = terms.map((_, i) => `$${8 + 2 * i}::float8 * tf[${i + 1}] / greatest(tf[${i + 1}] + 1.2 * (0.25 + 0.75 * doc_length / $4::float8), 1e-9)`).join(' + ');
  const score = async (cand: string, match: string) =>
    (
      await pool.query<{ id: string; score: number }>(
        `with cand as (${cand}),
         tf as materialized (select cand.id, cand.doc_length, array[${tf.join(', ')}] as tf from cand)
         select id, round(2.2 * (${bm25}) * 1e9) / 1e9 as score from tf order by score desc, id limit $5`,
        [match, viewer.userId, viewer.roles, avg, k, table, ...terms.flatMap((t, i) => [t, idfs[i]]), ...(plan === 'index' && share < 0.5 ? [tokens] : [])],
      )
    ).rows;
  if (plan === 'scope') {
    return score(
      `select c.id, c.tsv, c.doc_length from search.documents d join search.chunks c on c.document_id = d.document_id and c.version = d.live_version
       where d.live_version is not null and (d.is_public or d.owner_id = $2 or d.shared_roles && $3::text[]) and c.tsv @@ $1::tsquery and ${VISIBLE('c')}`,
      dfs.map((t) => quote(t.lexeme)).join(' | '),
    );
  }
  const round = (terms: string) => score(`select c.id, c.tsv, c.doc_length from search.chunks c where c.tsv @@ $1::tsquery and ${VISIBLE('c')}${narrow(7 + 2 * dfs.length)}`, terms);
  for (let count = 0, sum = 0, limit = budget; ; limit *= 4) {
    const before = count;
    while (count < dfs.length && (count === before || sum + dfs[count]!.df <= limit)) sum += dfs[count++]!.df;
    const essential = dfs.slice(0, count);
    // A term past the budget first brings only its chunks that hold another query term (pairedEssentials).
    if (dfs.length > 1 && essential.some((t) => t.df > budget)) {
      const others = (t: (typeof dfs)[number]) => dfs.filter((o) => o !== t).map((o) => quote(o.lexeme)).join(' | ');
      const rows = await round(essential.map((t) => (t.df > budget ? `(${quote(t.lexeme)} & (${others(t)}))` : quote(t.lexeme))).join(' | '));
      if (rows.length >= k) return rows;
    }
    const rows = await round(essential.map((t) => quote(t.lexeme)).join(' | '));
    if (rows.length >= k || count >= dfs.length) return rows;
  }
}

/** The vector statement of the plan the service picks for the viewer's share. */
export function rawVector(plan: 'hnsw' | 'exact', pool: pg.Pool, v: Float32Array, dims: number, model: string, viewer: RawViewer, k: number): Promise<string[]> {
  return plan === 'hnsw' ? rawVectorHnsw(pool, v, dims, model, viewer, k) : rawVectorByDocuments(pool, v, dims, model, viewer, k);
}

/** Hybrid: both lists (30 candidates each, at least k: SEARCH_HYBRID_CANDIDATES) and reciprocal rank fusion, k = 60, weights 1 / 1. */
export async function rawHybrid(
  plan: 'hnsw' | 'exact',
  keywordPlan: 'index' | 'scope',
  pool: pg.Pool,
  v: Float32Array,
  text: string,
  dims: number,
  model: string,
  viewer: RawViewer,
  k: number,
  share = 1,
): Promise<string[]> {
  const candidates = Math.max(30, k);
  const [vector, keyword] = await Promise.all([rawVector(plan, pool, v, dims, model, viewer, candidates), rawKeyword(pool, text, viewer, candidates, keywordPlan, share)]);
  const fused = new Map<string, number>();
  vector.forEach((id, i) => fused.set(id, (fused.get(id) ?? 0) + 1 / (61 + i)));
  keyword.forEach((hit, i) => fused.set(hit.id, (fused.get(hit.id) ?? 0) + 1 / (61 + i)));
  return [...fused.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, k)
    .map(([id]) => id);
}
