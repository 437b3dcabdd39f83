// The search benchmark's section on real vectors: SciFact's 5,183 abstracts
// (../shared/corpus/ir) as the local model's passage vectors (cached under
// .data/bench/vectors by embedding-cache.ts, as search-quality indexes them),
// indexed through JOBS_SEARCH into a search service running the local model.
// Recall@10 of the HNSW plan against exact search, with the test queries
// embedded by the same model; then p50/p95 of each mode, one client, straight
// to the service (which embeds each query itself) and as raw SQL.
import { create } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders } from '@csda/auth';
import { createEmbeddingProvider } from '@csda/embeddings';
import { SearchRequestSchema, SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { connectNats, createServiceClient } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace } from '@csda/testing';
import { corpusVectors } from './embedding-cache.ts';
import { loadIrCollection } from './ir-corpus.ts';
import { fmt, runLoad, type LoadResult } from './load.ts';
import { freshSearchToken, publishCollection, waitIndexed } from './search-publisher.ts';
import { rawHybrid, rawKeyword, rawPassagesPerChunk, rawPool, rawVectorExact, rawVectorHnsw } from './search-raw.ts';

const OWNER = '00000000-0000-4000-8000-0000000000bf';
const MODES = ['vector', 'keyword', 'hybrid'] as const;

const line = (label: string, r: LoadResult) => `${label.padEnd(52)} ${fmt(r.perSecond, 1).padStart(8)} /s   p50 ${fmt(r.p50, 1).padStart(6)} ms   p95 ${fmt(r.p95, 1).padStart(6)} ms   errors ${r.errors}`;

/** The lines of the real-collection section, or one saying why it was skipped. */
export async function benchRealCollection(seconds: number): Promise<string[]> {
  const test = loadIrCollection('test');
  if (!test) return ['', 'real vectors: skipped (no SciFact collection at ../shared/corpus/ir or BENCH_IR_DIR)'];
  process.stdout.write(`[real] local-model passage vectors of ${test.docs.length} SciFact abstracts (cached under .data/bench/vectors)…\n`);
  const embedder = createEmbeddingProvider({ EMBEDDING_THREADS: process.env.EMBEDDING_THREADS ?? '2' });
  const granularity = { kind: 'passages' as const, maxTokens: 64, includeTitle: true };
  let vectors;
  let queryVectors: Float32Array[];
  try {
    vectors = await corpusVectors(embedder, test.docs, granularity, (done, total) => process.stderr.write(`\r  ${done}/${total} abstracts`));
    process.stderr.write('\n');
    queryVectors = await embedder.embed(test.queries.map((q) => q.text.slice(0, 1_000)));
  } finally {
    await embedder.close();
  }
  const dims = vectors.dimensions;

  const namespace = testNamespace();
  const db = await createTestDatabase('bench_search_real');
  const keys = generateTestKeys();
  const serviceEnv = { ...keys.envFor('search'), DATABASE_URL: db.url, NATS_URL: natsUrl(), NATS_NAMESPACE: namespace, NODE_ENV: 'production', LOG_LEVEL: 'warn', EMBEDDING_PROVIDER: 'local', EMBEDDING_THREADS: '1' };
  const nats = await connectNats(natsUrl(), 'bench-search-real', namespace);
  const pool = rawPool(db.url, 4);
  let stop: (() => Promise<unknown>) | undefined;
  try {
    const migrated = await runCommand('search', 'migrate', serviceEnv);
    if (migrated.code !== 0) throw new Error(`search migrate exited ${migrated.code}: ${migrated.stderr}`);
    const service = await startService('search', serviceEnv, 120_000);
    stop = service.stop;
    process.stdout.write(`[real] indexing ${test.docs.length} abstracts (${vectors.items.length} passage vectors) through JOBS_SEARCH…\n`);
    await publishCollection(nats, test.docs, vectors, OWNER);
    const indexedS = await waitIndexed(db.url, test.docs.length, (live) => process.stderr.write(`\r  ${live}/${test.docs.length} live`));
    process.stderr.write('\n');
    await query(db.url, 'analyze search.chunks; analyze search.passages; analyze search.documents');

    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const token = freshSearchToken(() => signer.sign({ kind: 'user', id: OWNER, name: 'bench', roles: [], permissions: ['search:query'] }, 'search'));
    const client = createServiceClient(SearchService, `http://127.0.0.1:${service.rpcPort}`);
    const viewer = { userId: OWNER, roles: [], passagesPerChunk: await rawPassagesPerChunk(pool, { userId: OWNER, roles: [] }, dims) };
    const search = async (mode: string, i: number) => {
      const q = test.queries[i % test.queries.length]!;
      const res = await client.search(create(SearchRequestSchema, { query: q.text.slice(0, 1_000), mode, topK: 10 }), { headers: principalHeaders(await token()) });
      if (res.degraded) throw new Error(`degraded: ${res.degradedReason}`);
      return res.results.map((r) => r.chunkId);
    };

    process.stdout.write(`[real] recall@10 over ${test.queries.length} queries…\n`);
    let viaService = 0;
    let viaSql = 0;
    for (const [i, v] of queryVectors.entries()) {
      const truth = new Set(await rawVectorExact(pool, v, dims, vectors.model, viewer, 10));
      const hit = (ids: readonly string[]) => ids.filter((id) => truth.has(id)).length / Math.max(1, truth.size);
      viaService += hit(await search('vector', i));
      viaSql += hit(await rawVectorHnsw(pool, v, dims, vectors.model, viewer, 10));
    }
    const lines = [
      '',
      `real vectors — SciFact, ${test.docs.length} abstracts as ${vectors.items.length} passage vectors of ${vectors.model} (${dims}-d), one caller who sees all of them; indexed in ${fmt(indexedS, 0)} s`,
      `recall@10 vs exact: the service (HNSW plan; the query embedded by the service) ${fmt(viaService / queryVectors.length, 3)}; raw HNSW SQL (same vectors) ${fmt(viaSql / queryVectors.length, 3)}`,
    ];
    const ms = seconds * 1000;
    for (const mode of MODES) {
      process.stdout.write(`[real] ${mode}, 1 client…\n`);
      const service = await runLoad(1, ms, async (i) => void (await search(mode, i)));
      const sql = await runLoad(1, ms, async (i) => {
        const q = test.queries[i % test.queries.length]!;
        const v = queryVectors[i % queryVectors.length]!;
        if (mode === 'vector') await rawVectorHnsw(pool, v, dims, vectors.model, viewer, 10);
        else if (mode === 'keyword') await rawKeyword(pool, q.text.slice(0, 1_000), viewer, 10, 'index');
        else await rawHybrid('hnsw', 'index', pool, v, q.text.slice(0, 1_000), dims, vectors.model, viewer, 10);
      });
      lines.push(line(`${mode} top-10, 1 client, service${mode === 'keyword' ? '' : ' (embeds the query)'}`, service), line(`${mode} top-10, 1 client, raw SQL${mode === 'keyword' ? '' : ' (vector given)'}`, sql));
    }
    return lines;
  } finally {
    await stop?.();
    await pool.end();
    await nats.connection.close();
    await db.drop();
    await deleteNamespace(namespace);
  }
}
