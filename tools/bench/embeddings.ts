// `npm run bench -- embeddings`: the local model's throughput with 1 and 2
// worker threads (short passages, ~200-token chunks, single-query latency,
// load time, RSS), and — when ../shared/corpus/ir exists — its retrieval
// quality on SciFact: one vector per abstract vs one per passage with the
// abstract scored by its best passage, exact cosine in memory.
//
// BENCH_IR_SPLIT (train | test, default train: tune on train, never on test),
// BENCH_IR_QUERIES / BENCH_IR_DOCS (sample sizes, default all), BENCH_IR_VARIANTS
// (document,passages,sentences), BENCH_PASSAGE_TOKENS (64), EMBEDDING_THREADS
// for the corpus run (2). Corpus vectors are cached under .data/bench/vectors.
import { createEmbeddingProvider, splitPassages } from '@csda/embeddings';
import { corpusVectors, type CorpusVectors, type Granularity } from './embedding-cache.ts';
import { evaluateRuns, loadIrCollection, type IrCollection, type IrDoc } from './ir-corpus.ts';
import { fmt, percentile } from './load.ts';

const env = process.env;
const SYNTHETIC = [
  'The enzyme activity increased twofold after treatment with the inhibitor.',
  'Patients in the control group reported fewer adverse events over twelve weeks.',
  'We sequenced the genomes of forty bacterial isolates from hospital wards.',
  'Higher vitamin D levels were associated with a lower risk of fractures.',
];

/** The throughput inputs: 256 short passages and 48 abstracts of SciFact (or synthetic text without it). */
function throughputInputs(collection: IrCollection | undefined): { passages: string[]; chunks: string[] } {
  const docs = collection?.docs ?? [];
  const passages = docs.length
    ? docs.slice(0, 200).flatMap((d) => splitPassages(d.text, { maxTokens: 32 }).map((p) => p.text)).slice(0, 256)
    : Array.from({ length: 256 }, (_, i) => `${SYNTHETIC[i % SYNTHETIC.length]} (${i})`);
  const chunks = docs.length ? docs.slice(200, 248).map((d) => d.text) : Array.from({ length: 48 }, (_, i) => SYNTHETIC.join(' ').repeat(3) + i);
  return { passages, chunks };
}

/** The local model's throughput with `threads` workers on this bench's inputs (the search bench reports it too). */
export function embeddingThroughput(threads: number): ReturnType<typeof throughput> {
  const { passages, chunks } = throughputInputs(loadIrCollection('train'));
  return throughput(threads, passages, chunks);
}

export async function benchEmbeddings(): Promise<void> {
  const collection = loadIrCollection(env.BENCH_IR_SPLIT === 'test' ? 'test' : 'train');
  const { passages, chunks } = throughputInputs(collection);

  process.stdout.write(`local embedding throughput (${passages.length} passages of ≤ 32 tokens, ${chunks.length} abstracts of ~200 words)\n`);
  process.stdout.write('threads  load ms  passages/s  chunks/s  query p50 ms  query p95 ms  RSS MB\n');
  for (const threads of [1, 2]) {
    const r = await throughput(threads, passages, chunks);
    process.stdout.write(
      `${String(threads).padStart(7)}  ${fmt(r.loadMs, 0).padStart(7)}  ${fmt(r.passagesPerS, 1).padStart(10)}  ${fmt(r.chunksPerS, 1).padStart(8)}  ${fmt(r.queryP50, 1).padStart(12)}  ${fmt(r.queryP95, 1).padStart(12)}  ${fmt(r.rssMb, 0).padStart(6)}\n`,
    );
  }
  if (!collection) {
    process.stdout.write('quality: skipped (no SciFact collection at ../shared/corpus/ir or BENCH_IR_DIR)\n');
    return;
  }
  await quality(collection);
}

async function throughput(threads: number, passages: string[], chunks: string[]) {
  const started = performance.now();
  const provider = createEmbeddingProvider({ EMBEDDING_THREADS: String(threads) });
  try {
    await provider.ready!();
    const loadMs = performance.now() - started;
    let t0 = performance.now();
    await provider.embed(passages);
    const passagesPerS = passages.length / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    await provider.embed(chunks);
    const chunksPerS = chunks.length / ((performance.now() - t0) / 1000);
    const latencies: number[] = [];
    for (const text of passages.slice(0, 40)) {
      const q0 = performance.now();
      await provider.embed([text]);
      latencies.push(performance.now() - q0);
    }
    latencies.sort((a, b) => a - b);
    return { loadMs, passagesPerS, chunksPerS, queryP50: percentile(latencies, 0.5), queryP95: percentile(latencies, 0.95), rssMb: process.memoryUsage().rss / 1e6 };
  } finally {
    await provider.close();
  }
}

async function quality(collection: IrCollection): Promise<void> {
  const queries = sample(collection.queries, Number(env.BENCH_IR_QUERIES ?? collection.queries.length));
  const docs = sampleDocs(collection, queries.map((q) => q.id), Number(env.BENCH_IR_DOCS ?? collection.docs.length));
  const tokens = Number(env.BENCH_PASSAGE_TOKENS ?? 64);
  const variants: Record<string, Granularity> = {
    document: { kind: 'document' },
    passages: { kind: 'passages', maxTokens: tokens, includeTitle: true },
    sentences: { kind: 'passages', maxTokens: tokens, maxSentences: 1, includeTitle: true },
  };
  const chosen = (env.BENCH_IR_VARIANTS ?? 'document,passages').split(',').map((v) => v.trim());
  const provider = createEmbeddingProvider({ EMBEDDING_THREADS: env.EMBEDDING_THREADS ?? '2' });
  try {
    await provider.ready!();
    const queryVectors = await provider.embed(queries.map((q) => q.text));
    process.stdout.write(
      `\nquality of ${provider.model} on SciFact ${env.BENCH_IR_SPLIT === 'test' ? 'test' : 'train'} (${queries.length} queries, ${docs.length} abstracts), exact cosine, abstract score = best row\n`,
    );
    process.stdout.write('variant     rows    nDCG@10  recall@100  embedded now  s\n');
    for (const name of chosen) {
      const granularity = variants[name];
      if (!granularity) throw new Error(`BENCH_IR_VARIANTS: unknown variant ${name} (document, passages, sentences)`);
      const t0 = performance.now();
      const progress = process.stderr.isTTY ? (done: number, total: number) => process.stderr.write(`\r  ${name}: ${done}/${total} abstracts\x1b[K`) : undefined;
      const corpus = await corpusVectors(provider, docs, granularity, progress);
      if (progress) process.stderr.write('\r\x1b[K');
      const runs = new Map(queries.map((q, i) => [q.id, rank(corpus, docs, queryVectors[i]!, 100)]));
      const m = evaluateRuns(runs, collection.qrels);
      process.stdout.write(
        `${name.padEnd(10)}  ${String(corpus.items.length).padStart(6)}  ${fmt(m.ndcg10, 3).padStart(8)}  ${fmt(m.recall100, 3).padStart(10)}  ${String(corpus.computed).padStart(12)}  ${fmt((performance.now() - t0) / 1000, 0).padStart(4)}\n`,
      );
    }
  } finally {
    await provider.close();
  }
}

/** Doc ids of the top `k` abstracts for one query: exact cosine over all rows, an abstract scoring by its best row. */
export function rank(corpus: CorpusVectors, docs: readonly IrDoc[], query: Float32Array, k: number): string[] {
  const dims = corpus.dimensions;
  const best = new Float32Array(docs.length).fill(-Infinity);
  for (let row = 0; row < corpus.items.length; row++) {
    let score = 0;
    const base = row * dims;
    for (let i = 0; i < dims; i++) score += corpus.vectors[base + i]! * query[i]!;
    const doc = corpus.items[row]!.doc;
    if (score > best[doc]!) best[doc] = score;
  }
  return [...best.keys()]
    .sort((a, b) => best[b]! - best[a]!)
    .slice(0, k)
    .map((i) => docs[i]!.id);
}

/** Every n-th element so a sample spreads over the whole list (deterministic). */
function sample<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

/** The judged abstracts of the sampled queries, filled up to `n` with the others in corpus order. */
function sampleDocs(collection: IrCollection, queryIds: readonly string[], n: number): IrDoc[] {
  if (n >= collection.docs.length) return [...collection.docs];
  const judged = new Set(queryIds.flatMap((id) => [...(collection.qrels.get(id)?.keys() ?? [])]));
  const chosen = collection.docs.filter((d) => judged.has(d.id));
  for (const d of collection.docs) {
    if (chosen.length >= n) break;
    if (!judged.has(d.id)) chosen.push(d);
  }
  return chosen;
}
