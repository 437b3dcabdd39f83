import { queryVectorExpr, vectorExpr, vectorLiteral } from '../index/vector-sql.ts';
import { scopeClause, type Scope } from './access.ts';
import type { RankedHit } from './rrf.ts';
import { SqlParams, type Sql } from './sql.ts';

export interface VectorSettings {
  /** hnsw.ef_search: candidate list of one HNSW scan (recall vs speed). */
  readonly efSearch: number;
  /** hnsw.max_scan_tuples: how far an iterative scan may walk to satisfy the access filter. */
  readonly maxScanTuples: number;
  /** Callers who can see at most this many chunks (of the query's dimension) are searched exactly, not through HNSW. */
  readonly exactMaxChunks: number;
}

export interface VectorRequest {
  readonly vector: Float32Array;
  readonly model: string;
  readonly scope: Scope;
  /** Chunks wanted (each scored by its best passage). */
  readonly limit: number;
  /** Passages the first HNSW round fetches per chunk wanted, 1–3 (the plan inputs' `passagesPerChunk`; default PASSAGES_PER_CHUNK_MAX). */
  readonly passagesPerChunk?: number;
}

export type VectorPlan = 'hnsw' | 'exact';

/** Live chunks and their passages (vectors) of one dimension that a scope sees. */
export interface VisibleCounts {
  readonly chunks: number;
  readonly passages: number;
}

/**
 * The most passages an HNSW round fetches per chunk wanted: a chunk has a
 * few passages and its best one counts, so the nearest passages repeat
 * chunks. Chunks of fewer passages (on average, over what the caller sees)
 * fetch as many as they have, but never fewer than PASSAGES_PER_CHUNK_MIN;
 * a round that still comes back short doubles.
 */
export const PASSAGES_PER_CHUNK_MAX = 3;

/**
 * The fewest passages a round fetches per chunk wanted, even over chunks of
 * one passage: a filtered iterative scan returns rows in relaxed order, and
 * re-sorting more of them finds nearer ones a later batch held. 100,000
 * one-passage chunks, recall@10 against exact with HNSW forced: caller seeing
 * 1 % 0.932 / 0.964 / 0.978 at 1 / 2 / 3 per chunk, 10 % 0.981 / 0.984 /
 * 0.984; hybrid at 10 % in-process p95 17.8 / 17.9 / 32.9 ms.
 */
export const PASSAGES_PER_CHUNK_MIN = 2;

const perChunk = (ratio: number) => Math.min(PASSAGES_PER_CHUNK_MAX, Math.max(1, Math.ceil(ratio)));

/** Passages a first HNSW round fetches per chunk wanted, for a scope that sees `counts`. */
export function passagesPerChunk(counts: VisibleCounts | undefined): number {
  if (!counts || counts.chunks <= 0 || counts.passages <= 0) return PASSAGES_PER_CHUNK_MAX;
  return Math.max(PASSAGES_PER_CHUNK_MIN, perChunk(counts.passages / counts.chunks));
}

/** HNSW rounds (each doubling the passages fetched) before the answer stands with fewer chunks. */
const MAX_ROUNDS = 3;
/** pgvector's ceiling for hnsw.ef_search. */
const EF_SEARCH_MAX = 1_000;

const int = (n: number) => String(Math.trunc(n));

/**
 * How many live chunks and passages of each dimension (0: none recorded) the
 * scope lets the caller see, from the per-document counts (`search.documents`
 * is one row per document, far smaller than the chunks): the plan choices
 * read it.
 */
export async function visibleChunks(sql: Sql, scope: Scope): Promise<ReadonlyMap<number, VisibleCounts>> {
  const p = new SqlParams();
  const where = scopeClause('d', scope, p, 'documents');
  const rows = await sql.query<{ dims: number; chunks: string; passages: string }>(
    `select coalesce(d.dims, 0) as dims, sum(d.chunk_count)::bigint as chunks, sum(d.passage_count)::bigint as passages from search.documents d where ${where} group by 1`,
    p.values,
  );
  return new Map(rows.map((r) => [r.dims, { chunks: Number(r.chunks), passages: Number(r.passages) }]));
}

const toHits = (rows: readonly { chunk_id: string; distance: number }[]): RankedHit[] => rows.map((r) => ({ id: r.chunk_id, score: 1 - r.distance }));

/**
 * The settings an HNSW query runs with, ef_search `ef`: the caller sees
 * enough of the index for a filtered HNSW scan (the plan choice said so), so
 * the planner is kept on it — a small table or a selective filter would
 * otherwise tempt it to scan and sort.
 */
function hnswSettings(settings: VectorSettings, ef: number): [string, string][] {
  return [
    ['hnsw.ef_search', int(ef)],
    ['hnsw.iterative_scan', 'relaxed_order'],
    ['hnsw.max_scan_tuples', int(settings.maxScanTuples)],
    ['enable_seqscan', 'off'],
    ['enable_bitmapscan', 'off'],
    ['enable_sort', 'off'],
  ];
}

/**
 * libpq `options` for connections that serve only HNSW queries: their
 * sessions start with the HNSW settings (ef_search `settings.efSearch`), so
 * a query needs no transaction to SET LOCAL them — one round trip instead of
 * three (BEGIN + SET, the query, COMMIT).
 */
export function hnswSessionOptions(settings: VectorSettings): string {
  return hnswSettings(settings, settings.efSearch)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/**
 * Approximate nearest passages through the HNSW index of `dims`, the access
 * filter applied on each row the index returns (pgvector 0.8 iterative
 * scans, relaxed order, so a caller who sees a small share still gets
 * `limit` chunks), re-sorted exactly, best passage per chunk. `session`:
 * connections opened with `hnswSessionOptions(settings)`; a round whose
 * ef_search is theirs runs there as one statement, any other round (or
 * without them) in a transaction on `session ?? sql` with the settings SET
 * LOCAL.
 */
async function hnswSearch(sql: Sql, req: VectorRequest, settings: VectorSettings, session?: Sql): Promise<RankedHit[]> {
  const dims = req.vector.length;
  const literal = vectorLiteral(req.vector);
  let passages = req.limit * perChunk(req.passagesPerChunk ?? PASSAGES_PER_CHUNK_MAX);
  for (let round = 1; ; round++) {
    const p = new SqlParams();
    const q = queryVectorExpr(dims, p.add(literal));
    const model = p.add(req.model);
    const where = scopeClause('p', req.scope, p);
    const passageLimit = p.add(passages);
    const chunkLimit = p.add(req.limit);
    const ef = Math.min(EF_SEARCH_MAX, Math.max(settings.efSearch, passages));
    const scan = (on: Sql) =>
      on.query<{ chunk_id: string; distance: number; fetched: string }>(
        `with hits as materialized (
           select p.chunk_id, ${vectorExpr(dims, 'p.embedding')} <=> ${q} as distance
           from search.passages p
           where p.dims = ${int(dims)} and p.model = ${model} and ${where}
           order by ${vectorExpr(dims, 'p.embedding')} <=> ${q}
           limit ${passageLimit}
         )
         select chunk_id, min(distance) as distance, (select count(*) from hits) as fetched
         from hits group by chunk_id order by min(distance), chunk_id limit ${chunkLimit}`,
        p.values,
      );
    const rows =
      session && ef === settings.efSearch
        ? await scan(session)
        : await (session ?? sql).transaction(
            scan,
            hnswSettings(settings, ef)
              .map(([name, value]) => `set local ${name} = ${value}`)
              .join('; '),
          );
    // Enough chunks, or the scan ran out of rows it may return: the answer stands.
    const exhausted = rows.length === 0 || Number(rows[0]!.fetched) < passages;
    if (rows.length >= req.limit || exhausted || round >= MAX_ROUNDS) return toHits(rows);
    passages *= 2;
  }
}

/**
 * Exact nearest passages over the documents the caller can see (found in
 * `search.documents`, then their live passages by document): for callers
 * whose visible share is too small for a filtered index scan to find
 * `limit` chunks cheaply.
 */
async function exactSearch(sql: Sql, req: VectorRequest): Promise<RankedHit[]> {
  const dims = req.vector.length;
  const p = new SqlParams();
  const q = queryVectorExpr(dims, p.add(vectorLiteral(req.vector)));
  const model = p.add(req.model);
  const documents = scopeClause('d', req.scope, p, 'documents');
  const rows = scopeClause('p', req.scope, p);
  const limit = p.add(req.limit);
  return toHits(
    await sql.query<{ chunk_id: string; distance: number }>(
      `with visible as (select d.document_id, d.live_version from search.documents d where ${documents} and d.dims = ${int(dims)} and d.model = ${model})
       select p.chunk_id, min(${vectorExpr(dims, 'p.embedding')} <=> ${q}) as distance
       from visible v join search.passages p on p.document_id = v.document_id and p.version = v.live_version
       where p.dims = ${int(dims)} and p.model = ${model} and ${rows}
       group by p.chunk_id order by distance, p.chunk_id limit ${limit}`,
      p.values,
    ),
  );
}

/**
 * Chunks nearest to the query vector, best first, score = 1 − cosine
 * distance of the best passage. `hnswSession`: connections opened with
 * `hnswSessionOptions(settings)` for the HNSW plan.
 */
export function vectorSearch(sql: Sql, req: VectorRequest, plan: VectorPlan, settings: VectorSettings, hnswSession?: Sql): Promise<RankedHit[]> {
  return plan === 'exact' ? exactSearch(sql, req) : hnswSearch(sql, req, settings, hnswSession);
}
