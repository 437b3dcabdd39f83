// `npm run bench -- search-quality`: retrieval quality of the search service
// on SciFact (../shared/corpus/ir): nDCG@10 and recall@100 of keyword (BM25),
// vector (local model, passages scored by the best one) and hybrid (RRF),
// every query through the real service's Search RPC. Hybrid's weights are
// tuned on the train/ queries only, then measured once on the test queries.
// Reference lines: PostgreSQL's ts_rank_cd over the same index (AND and OR).
//
// BENCH_IR_DOCS / BENCH_IR_QUERIES / BENCH_TRAIN_QUERIES: sample sizes (default
// all); BENCH_PASSAGE_TOKENS (64); EMBEDDING_THREADS for the corpus vectors (2),
// cached under .data/bench/vectors by embedding-cache.ts.
import { create } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders } from '@csda/auth';
import { createEmbeddingProvider } from '@csda/embeddings';
import { SearchRequestSchema, SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { connectNats, createServiceClient } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace } from '@csda/testing';
import { corpusVectors } from './embedding-cache.ts';
import { evaluateRuns, loadIrCollection, type IrCollection, type IrDoc, type IrQuery } from './ir-corpus.ts';
import { fmt } from './load.ts';
import { freshSearchToken, publishCollection, waitIndexed } from './search-publisher.ts';

const env = process.env;
const OWNER = '00000000-0000-4000-8000-0000000000be';
const VECTOR_WEIGHTS = [0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 1, 2];
const BM25_FIGURE = 0.665;

/** Every n-th element, so a sample spreads over the whole list. */
const spread = <T>(items: readonly T[], n: number): T[] => (n >= items.length ? [...items] : Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!));

/** The judged abstracts of the queries, filled up to `n` with others in corpus order. */
function docsFor(collections: readonly IrCollection[], queries: readonly IrQuery[][], n: number): IrDoc[] {
  const all = collections[0]!.docs;
  if (n >= all.length) return [...all];
  const judged = new Set(queries.flatMap((qs, i) => qs.flatMap((q) => [...(collections[i]!.qrels.get(q.id)?.keys() ?? [])])));
  const chosen = all.filter((d) => judged.has(d.id));
  for (const d of all) {
    if (chosen.length >= n) break;
    if (!judged.has(d.id)) chosen.push(d);
  }
  return chosen;
}

export async function benchSearchQuality(): Promise<void> {
  const test = loadIrCollection('test');
  const train = loadIrCollection('train');
  if (!test || !train) {
    process.stdout.write('search-quality: skipped (no SciFact collection at ../shared/corpus/ir or BENCH_IR_DIR)\n');
    return;
  }
  const testQueries = spread(test.queries, Number(env.BENCH_IR_QUERIES ?? test.queries.length));
  const trainQueries = spread(train.queries, Number(env.BENCH_TRAIN_QUERIES ?? train.queries.length));
  const docs = docsFor([test, train], [testQueries, trainQueries], Number(env.BENCH_IR_DOCS ?? test.docs.length));

  process.stdout.write(`corpus vectors for ${docs.length} abstracts (cached under .data/bench/vectors)…\n`);
  const embedder = createEmbeddingProvider({ EMBEDDING_THREADS: env.EMBEDDING_THREADS ?? '2' });
  const granularity = { kind: 'passages' as const, maxTokens: Number(env.BENCH_PASSAGE_TOKENS ?? 64), includeTitle: true };
  const vectors = await corpusVectors(embedder, docs, granularity, (done, total) => process.stderr.write(`\r  ${done}/${total} abstracts`)).finally(() => embedder.close());
  process.stderr.write('\n');

  const namespace = testNamespace();
  const db = await createTestDatabase('bench_search_quality');
  const keys = generateTestKeys();
  const serviceEnv = { ...keys.envFor('search'), DATABASE_URL: db.url, NATS_URL: natsUrl(), NATS_NAMESPACE: namespace, NODE_ENV: 'production', LOG_LEVEL: 'warn', EMBEDDING_PROVIDER: 'local', EMBEDDING_THREADS: '1' };
  const nats = await connectNats(natsUrl(), 'bench-search-quality', namespace);
  let stopService: (() => Promise<unknown>) | undefined;
  try {
    const migrated = await runCommand('search', 'migrate', serviceEnv);
    if (migrated.code !== 0) throw new Error(`search migrate exited ${migrated.code}: ${migrated.stderr}`);
    const service = await startService('search', serviceEnv, 120_000);
    // A second replica ranking keyword hits by exact BM25 (MaxScore rounds), beside the default budgeted one.
    const exact = await startService('search', { ...serviceEnv, SEARCH_BM25_EXACT: 'true' }, 120_000);
    stopService = () => Promise.all([service.stop(), exact.stop()]);

    process.stdout.write(`indexing ${docs.length} abstracts (${vectors.items.length} passage vectors, ${vectors.model}) through JOBS_SEARCH…\n`);
    const sciFactId = await publishCollection(nats, docs, vectors, OWNER);
    const seconds = await waitIndexed(db.url, docs.length, (live) => process.stderr.write(`\r  ${live}/${docs.length} live`));
    process.stderr.write('\n');

    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const token = freshSearchToken(() => signer.sign({ kind: 'user', id: OWNER, name: 'bench', roles: [], permissions: ['search:query'] }, 'search'));
    const clients = { budgeted: createServiceClient(SearchService, `http://127.0.0.1:${service.rpcPort}`), exact: createServiceClient(SearchService, `http://127.0.0.1:${exact.rpcPort}`) };
    const run = async (queries: readonly IrQuery[], mode: string, weights?: { vector: number; keyword: number }, replica: keyof typeof clients = 'budgeted', topK = 100) => {
      const client = clients[replica];
      const runs = new Map<string, string[]>();
      const t0 = performance.now();
      for (const q of queries) {
        const res = await client.search(create(SearchRequestSchema, { query: q.text.slice(0, 1_000), mode, topK, weights }), { headers: principalHeaders(await token()) });
        if (res.degraded) throw new Error(`hybrid degraded: ${res.degradedReason}`);
        runs.set(q.id, res.results.map((r) => sciFactId.get(r.documentId)!));
      }
      return { runs, msPerQuery: (performance.now() - t0) / queries.length };
    };
    const tsRank = async (queries: readonly IrQuery[], or: boolean) => {
      const runs = new Map<string, string[]>();
      for (const q of queries) {
        const [parsed] = await query<{ q: string }>(db.url, `select websearch_to_tsquery('english', $1)::text as q`, [q.text]);
        const text = or ? parsed!.q.replaceAll(' & ', ' | ') : parsed!.q;
        const hits = text ? await query<{ document_id: string }>(db.url, `select document_id from search.chunks where live and tsv @@ $1::tsquery order by ts_rank_cd(tsv, $1::tsquery) desc, id limit 100`, [text]) : [];
        runs.set(q.id, hits.map((h) => sciFactId.get(h.document_id)!));
      }
      return evaluateRuns(runs, test.qrels);
    };

    process.stdout.write(`tuning hybrid weights on ${trainQueries.length} train queries (keyword weight 1)…\n`);
    let best = { vector: 1, keyword: 1, ndcg10: -1 };
    for (const vector of VECTOR_WEIGHTS) {
      const m = evaluateRuns((await run(trainQueries, 'hybrid', { vector, keyword: 1 })).runs, train.qrels);
      process.stdout.write(`  vector ${fmt(vector, 2)}: train nDCG@10 ${fmt(m.ndcg10, 3)}\n`);
      if (m.ndcg10 > best.ndcg10) best = { vector, keyword: 1, ndcg10: m.ndcg10 };
    }

    const lines: string[] = [];
    const row = (name: string, m: { ndcg10: number; recall100?: number }, ms?: number) =>
      lines.push(`${name.padEnd(52)} ${fmt(m.ndcg10, 3).padStart(8)} ${(m.recall100 === undefined ? '—' : fmt(m.recall100, 3)).padStart(11)}${ms === undefined ? '' : `   ${fmt(ms, 1).padStart(7)} ms/query`}`);
    const results: Record<string, { ndcg10: number; recall100: number }> = {};
    for (const [name, mode, weights, replica] of [
      ['keyword (BM25, OR of terms)', 'keyword', undefined],
      ['keyword, exact BM25 (SEARCH_BM25_EXACT)', 'keyword', undefined, 'exact'],
      ['vector (best passage, 1 − cosine)', 'vector', undefined],
      ['hybrid, weights 1 / 1', 'hybrid', { vector: 1, keyword: 1 }],
      [`hybrid, tuned on train: vector ${best.vector} / keyword 1`, 'hybrid', { vector: best.vector, keyword: 1 }],
    ] as const) {
      const r = await run(testQueries, mode, weights, replica);
      results[name] = evaluateRuns(r.runs, test.qrels);
      row(name, results[name], r.msPerQuery);
    }
    // What a caller asking for 10 gets: hybrid then fuses SEARCH_HYBRID_CANDIDATES (30) of each list, not 100.
    const top10 = await run(testQueries, 'hybrid', { vector: best.vector, keyword: 1 }, 'budgeted', 10);
    row(`hybrid, tuned, top_k 10 (30 candidates a list)`, { ndcg10: evaluateRuns(top10.runs, test.qrels).ndcg10 }, top10.msPerQuery);
    row('reference: ts_rank_cd, websearch (AND)', await tsRank(testQueries, false));
    row('reference: ts_rank_cd, OR of terms', await tsRank(testQueries, true));

    const keyword = results['keyword (BM25, OR of terms)']!.ndcg10;
    const vector = results['vector (best passage, 1 − cosine)']!.ndcg10;
    const hybrid = Object.entries(results).find(([k]) => k.startsWith('hybrid, tuned'))![1].ndcg10;
    process.stdout.write(
      [
        '',
        `search quality — SciFact test, ${testQueries.length} queries, ${docs.length} abstracts (${vectors.items.length} passages), indexed in ${fmt(seconds, 0)} s, through SearchService.Search`,
        `${'mode'.padEnd(52)} ${'nDCG@10'.padStart(8)} ${'recall@100'.padStart(11)}`,
        ...lines,
        `targets: hybrid ≥ keyword and vector → ${hybrid >= keyword && hybrid >= vector ? 'met' : 'NOT met'}; keyword within 0.03 of BM25 ${BM25_FIGURE} → ${Math.abs(keyword - BM25_FIGURE) <= 0.03 || keyword > BM25_FIGURE ? 'met' : 'NOT met'}` +
          (docs.length < test.docs.length || testQueries.length < test.queries.length ? ' (on a sample: not comparable to the published figures)' : ''),
        `tuned weights (train only): SEARCH_HYBRID_WEIGHT_VECTOR=${best.vector} SEARCH_HYBRID_WEIGHT_KEYWORD=1`,
        '',
      ].join('\n'),
    );
  } finally {
    await stopService?.();
    await nats.connection.close();
    await db.drop();
    await deleteNamespace(namespace);
  }
}
