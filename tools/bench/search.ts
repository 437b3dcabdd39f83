// `npm run bench -- search`: the search service at BENCH_SEARCH_CHUNKS chunks
// (default 100,000) of clustered synthetic vectors (search-data.ts says how
// they are made) at each of BENCH_SEARCH_DIMS (default 512,1536), on its own
// full stack: ingest and HNSW build time, index sizes, recall@10 of HNSW vs
// exact, p50/p95 and throughput of each mode at 1 and 8 clients for callers
// seeing 100 %, 10 % and 1 % of the index — through the gateway, straight to
// the service, and as raw SQL, with the ratios; then the real collection's
// vectors (search-real.ts: SciFact as the local model's passages, when
// ../shared/corpus/ir is there); then the local embedding model's throughput
// with 1 and 2 threads.
//
// BENCH_SECONDS per load run (default 10), BENCH_RECALL_QUERIES (100),
// BENCH_SEARCH_CLIENTS (1,8); BENCH_SEARCH_DIMS= (empty) runs only the real
// collection and the embedding throughput.
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { create } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders } from '@csda/auth';
import { SearchRequestSchema, SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { connectNats, createServiceClient } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, query, startService, startStack, testNamespace, type Stack } from '@csda/testing';
import { embeddingThroughput } from './embeddings.ts';
import { createJsonClient, fmt, runLoad, type LoadResult } from './load.ts';
import { accessOf, CHUNKS_PER_DOC, chunkTexts, clusteredSpace, queryTexts, type Share } from './search-data.ts';
import { startBenchEmbedder } from './search-embedder.ts';
import { publishDocument, waitIndexed } from './search-publisher.ts';
import { benchRealCollection } from './search-real.ts';
import { rawHybrid, rawKeyword, rawPassagesPerChunk, rawPool, rawVector, rawVectorExact, rawVectorHnsw, type RawViewer } from './search-raw.ts';

const env = process.env;
const MODEL_NAME = 'bench-synthetic';
const MODES = ['vector', 'keyword', 'hybrid'] as const;
const QUERIES = 500;
const PASSWORD = 'bench-user-password-0123456789';
/** The service's default SEARCH_EXACT_MAX_CHUNKS: scopes that see at most this many chunks are searched exactly. */
const EXACT_MAX_CHUNKS = 2_000;
/** The service's default SEARCH_KEYWORD_SCOPE_MAX_CHUNKS: scopes that see at most this many chunks get their keyword matches found by document. */
const KEYWORD_SCOPE_MAX_CHUNKS = 2_000;

type Mode = (typeof MODES)[number];
interface Viewer extends RawViewer {
  passagesPerChunk?: number;
  readonly share: Share;
  readonly visibleChunks: number;
  token: string;
  readonly username: string;
}

const row = (label: string, r: LoadResult) =>
  `${label.padEnd(52)} ${fmt(r.perSecond, 1).padStart(8)} /s   p50 ${fmt(r.p50, 1).padStart(6)} ms   p95 ${fmt(r.p95, 1).padStart(6)} ms   errors ${r.errors}${r.firstError ? ` (first: ${r.firstError.slice(0, 120)})` : ''}`;

async function login(stack: Stack, username: string, password: string): Promise<string> {
  const res = await fetch(`${stack.gatewayUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (!res.ok) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function benchDims(dims: number, chunks: number, seconds: number, recallQueries: number, clients: number[]): Promise<string[]> {
  const model = `openai:${MODEL_NAME}@${dims}`;
  const space = clusteredSpace(dims, 1);
  const nextQueryVector = space.stream(3);
  const queryVectors = Array.from({ length: QUERIES }, () => nextQueryVector());
  // Distinct texts, each with its own vector: the service is sent the words alone, as the raw SQL rows rank them.
  const nextQueryText = queryTexts(4);
  const distinct = new Set<string>();
  while (distinct.size < QUERIES) {
    const text = nextQueryText();
    if (text) distinct.add(text);
  }
  const queryWords = [...distinct];
  const embedder = await startBenchEmbedder(new Map(queryWords.map((text, i) => [text, queryVectors[i]!])));
  const namespace = testNamespace();
  const db = await createTestDatabase(`bench_search_${dims}`);
  const stack = await startStack({
    databaseUrl: db.url,
    namespace,
    // The gateway's response cache off: the gateway rows measure searches, not cache hits.
    env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', CACHE_ENABLED: 'false', NATS_URL: natsUrl(), EMBEDDING_PROVIDER: 'openai', EMBEDDING_OPENAI_BASE_URL: embedder.baseUrl, EMBEDDING_OPENAI_MODEL: MODEL_NAME, EMBEDDING_DIMENSIONS: String(dims), EMBEDDING_RETRIES: '0' },
    readyTimeoutMs: 120_000,
  });
  const nats = await connectNats(natsUrl(), 'bench-search', namespace);
  const pool = rawPool(db.url, 8);
  const http = await createJsonClient(stack.gatewayUrl, Math.max(...clients));
  let stopHnsw: (() => Promise<unknown>) | undefined;
  try {
    const adminToken = await login(stack, 'admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    const me = await http.call('GET', '/api/v1/auth/me', adminToken);
    const created: Record<string, string> = {};
    for (const username of ['ten', 'one']) created[username] = (await http.call('POST', '/api/v1/users', adminToken, { username: `bench-${username}`, email: `${username}@example.test`, password: PASSWORD }))!.id as string;

    const documents = Math.ceil(chunks / CHUNKS_PER_DOC);
    process.stdout.write(`[${dims}] indexing ${documents * CHUNKS_PER_DOC} chunks (${documents} documents, 1 passage each) through JOBS_SEARCH…\n`);
    const nextVector = space.stream(2);
    const nextText = chunkTexts(5);
    const nobody = randomUUID();
    const t0 = performance.now();
    for (let d = 0; d < documents; d++) {
      const access = accessOf(d, { tenOwner: created.ten!, nobody });
      await publishDocument(nats, { documentId: randomUUID(), model, dimensions: dims, access, chunks: Array.from({ length: CHUNKS_PER_DOC }, () => ({ content: nextText(), passages: [nextVector()] })) });
    }
    await waitIndexed(db.url, documents, (live) => process.stderr.write(`\r  ${live}/${documents} documents live`));
    process.stderr.write('\n');
    const ingestS = (performance.now() - t0) / 1000;
    await query(db.url, 'analyze search.chunks; analyze search.passages; analyze search.documents');
    const index = `passages_embedding_${dims}_hnsw`;
    const b0 = performance.now();
    await query(db.url, `set maintenance_work_mem = '1GB'; reindex index search.${index}`);
    const buildS = (performance.now() - b0) / 1000;
    const [sizes] = await query<Record<string, string>>(
      db.url,
      `select pg_relation_size('search.${index}') as hnsw, pg_total_relation_size('search.passages') as passages, pg_relation_size('search.chunks_tsv_access_idx') as gin, pg_total_relation_size('search.chunks') as chunks`,
    );
    const mb = (bytes: string | undefined) => `${fmt(Number(bytes) / 1e6, 0)} MB`;
    // The figures depend on whether the index fits PostgreSQL's buffer cache (deploy/README.md, "PostgreSQL sizing").
    const [server] = await query<{ shared_buffers: string; version: string }>(db.url, `select current_setting('shared_buffers') as shared_buffers, current_setting('server_version') as version`);

    const viewers: Viewer[] = [
      { share: '100%', userId: me!.id as string, roles: me!.roles as string[], username: 'admin', token: adminToken, visibleChunks: documents * CHUNKS_PER_DOC },
      { share: '10%', userId: created.ten!, roles: ['USER'], username: 'bench-ten', token: await login(stack, 'bench-ten', PASSWORD), visibleChunks: Math.ceil(documents / 10) * CHUNKS_PER_DOC },
      { share: '1%', userId: created.one!, roles: ['USER'], username: 'bench-one', token: await login(stack, 'bench-one', PASSWORD), visibleChunks: Math.ceil(documents / 100) * CHUNKS_PER_DOC },
    ];
    for (const v of viewers) v.passagesPerChunk = await rawPassagesPerChunk(pool, v, dims);
    const planOf = (v: Viewer) => (v.visibleChunks <= EXACT_MAX_CHUNKS ? 'exact' : 'hnsw');
    const keywordPlanOf = (v: Viewer) => (v.visibleChunks <= KEYWORD_SCOPE_MAX_CHUNKS ? 'scope' : 'index');
    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', stack.keys.signingKeys.gateway!) });
    const service = createServiceClient(SearchService, `http://127.0.0.1:${stack.services.search.rpcPort}`);
    const hnswReplica = await startService('search', { ...stack.envFor('search'), SEARCH_EXACT_MAX_CHUNKS: '0' }, 120_000);
    stopHnsw = hnswReplica.stop;
    const hnswService = createServiceClient(SearchService, `http://127.0.0.1:${hnswReplica.rpcPort}`);
    const rpc = async (client: typeof service, v: Viewer, mode: Mode, i: number, topK = 10) => {
      const token = await signer.sign({ kind: 'user', id: v.userId, name: v.username, roles: [...v.roles], permissions: ['search:query'] }, 'search');
      const res = await client.search(create(SearchRequestSchema, { query: queryWords[i % QUERIES]!, mode, topK }), { headers: principalHeaders(token) });
      if (res.degraded) throw new Error(`degraded: ${res.degradedReason}`);
      return res.results.map((r) => r.chunkId);
    };

    const lines = [
      '',
      `search benchmark — ${dims} dimensions (${dims === 1536 ? 'halfvec' : 'vector'} HNSW, m 16, ef_construction 64), ${documents * CHUNKS_PER_DOC} chunks, node ${process.version}, ${cpus().length} cores`,
      `ingest through JOBS_SEARCH (HNSW maintained as rows arrive) ${fmt(ingestS, 0)} s (${fmt((documents * CHUNKS_PER_DOC) / ingestS, 0)} chunks/s); HNSW rebuilt from scratch (maintenance_work_mem 1 GB) ${fmt(buildS, 1)} s`,
      `sizes: HNSW ${mb(sizes?.hnsw)}, passages table ${mb(sizes?.passages)}, chunks table ${mb(sizes?.chunks)} (GIN tsvector + access tokens ${mb(sizes?.gin)}); PostgreSQL ${server?.version}, shared_buffers ${server?.shared_buffers}`,
    ];
    process.stdout.write(`[${dims}] recall@10 over ${recallQueries} queries per share…\n`);
    for (const v of viewers) {
      let forced = 0;
      let planned = 0;
      let raw = 0;
      for (let i = 0; i < recallQueries; i++) {
        const truth = new Set(await rawVectorExact(pool, queryVectors[i]!, dims, model, v, 10));
        const hit = (ids: string[]) => ids.filter((id) => truth.has(id)).length / Math.max(1, truth.size);
        forced += hit(await rpc(hnswService, v, 'vector', i));
        planned += hit(await rpc(service, v, 'vector', i));
        raw += hit(await rawVectorHnsw(pool, queryVectors[i]!, dims, model, v, 10));
      }
      lines.push(
        `recall@10 vs exact, caller sees ${v.share.padStart(4)}: HNSW (iterative scan) ${fmt(forced / recallQueries, 3)}; the service's plan (${planOf(v)}) ${fmt(planned / recallQueries, 3)}; raw HNSW SQL ${fmt(raw / recallQueries, 3)}`,
      );
    }

    const ms = seconds * 1000;
    for (const mode of MODES) {
      for (const v of viewers) {
        v.token = await login(stack, v.username, v.username === 'admin' ? stack.env.ADMIN_INITIAL_PASSWORD! : PASSWORD);
        for (const c of clients) {
          process.stdout.write(`[${dims}] ${mode}, ${v.share}, ${c} client(s)…\n`);
          const viaGateway = await runLoad(c, ms, async (i) => {
            const res = await http.call('POST', '/api/v1/search', v.token, { query: queryWords[i % QUERIES], mode, top_k: 10 });
            if (res?.degraded) throw new Error(`degraded: ${String(res.degraded_reason)}`);
          });
          const viaService = await runLoad(c, ms, async (i) => void (await rpc(service, v, mode, i)));
          const plan = planOf(v);
          const viaSql = await runLoad(c, ms, async (i) => {
            const q = queryVectors[i % QUERIES]!;
            const words = queryWords[i % QUERIES]!;
            if (mode === 'vector') await rawVector(plan, pool, q, dims, model, v, 10);
            else if (mode === 'keyword') await rawKeyword(pool, words, v, 10, keywordPlanOf(v), v.visibleChunks / (documents * CHUNKS_PER_DOC));
            else await rawHybrid(plan, keywordPlanOf(v), pool, q, words, dims, model, v, 10, v.visibleChunks / (documents * CHUNKS_PER_DOC));
          });
          const label = `${mode} top-10, sees ${v.share}, ${c} client${c > 1 ? 's' : ''}`;
          lines.push(row(`${label} gateway`, viaGateway), row(`${label} service`, viaService), row(`${label} raw SQL`, viaSql));
          // Where the service plans an exact scan, the HNSW path it declined, measured beside it.
          if (mode === 'vector' && plan === 'exact') lines.push(row(`${label} service, HNSW forced`, await runLoad(c, ms, async (i) => void (await rpc(hnswService, v, mode, i)))));
          lines.push(`${''.padEnd(52)} p50 ratios: gateway/SQL ${fmt(viaGateway.p50 / viaSql.p50, 2)}×, service/SQL ${fmt(viaService.p50 / viaSql.p50, 2)}×${mode === 'hybrid' ? `; target p95 ≤ 30 ms through the gateway → ${viaGateway.p95 <= 30 ? 'met' : 'NOT met'}` : ''}`);
        }
      }
    }
    return lines;
  } finally {
    http.close();
    await stopHnsw?.();
    await pool.end();
    await nats.connection.close();
    await stack.stop();
    await embedder.close();
    await db.drop();
    await deleteNamespace(namespace);
  }
}

export async function benchSearch(): Promise<void> {
  const chunks = Number(env.BENCH_SEARCH_CHUNKS ?? 100_000);
  const dimsList = (env.BENCH_SEARCH_DIMS ?? '512,1536').split(',').filter(Boolean).map(Number);
  const seconds = Number(env.BENCH_SECONDS ?? 10);
  const recallQueries = Number(env.BENCH_RECALL_QUERIES ?? 100);
  const clients = (env.BENCH_SEARCH_CLIENTS ?? '1,8').split(',').map(Number);
  const lines: string[] = [];
  for (const dims of dimsList) lines.push(...(await benchDims(dims, chunks, seconds, recallQueries, clients)));
  lines.push(...(await benchRealCollection(seconds)));
  process.stdout.write('local embedding model (queries embed with it by default)…\n');
  lines.push('', 'local embedding throughput (embeddings bench function)', 'threads  load ms  passages/s  chunks/s  query p50 ms  query p95 ms');
  for (const threads of [1, 2]) {
    const r = await embeddingThroughput(threads);
    lines.push(`${String(threads).padStart(7)}  ${fmt(r.loadMs, 0).padStart(7)}  ${fmt(r.passagesPerS, 1).padStart(10)}  ${fmt(r.chunksPerS, 1).padStart(8)}  ${fmt(r.queryP50, 1).padStart(12)}  ${fmt(r.queryP95, 1).padStart(12)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
