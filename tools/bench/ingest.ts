// `npm run bench -- ingest` (issue 10): end-to-end throughput of
// document-ingest, upload → ready over Connect with a real search service
// confirming each version, for two workloads: one long text PDF, and mixed
// documents over the six formats (ingest-workloads.ts). Beside each, in the
// same run and on the same documents, the raw speed of parsing alone and of
// embedding alone (ingest-bare.ts), so the pipeline's figures read as ratios
// to them; the peak RSS of each service process and of the bench's bare runs.
//
// Embeddings: the local model (the services' default), and an OpenAI-compatible
// stand-in on 127.0.0.1 (hash-seeded vectors, @csda/testing) that costs next
// to nothing, which leaves the pipeline's own cost. Both run by default: the
// stand-in passes take seconds. Targets, with the local model: overhead ≤ 20 %
// over parse + embed alone, ≥ 20 pages/s end to end for the text PDF. Asserts
// nothing.
//
// BENCH_INGEST_EMBEDDINGS local|standin|both (both), BENCH_INGEST_PDF_PAGES
// (200), BENCH_INGEST_MIXED (100), BENCH_INGEST_CONCURRENCY (2, the services'
// DOCUMENT_CONCURRENCY), EMBEDDING_THREADS of document-ingest and of the bare
// runs (2; search gets 1: it embeds only queries, and none are sent here).
import { cpus, loadavg } from 'node:os';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { DocumentIngestService, type UploadDocumentRequestSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, runCommand, startEmbeddingServer, startService, testNamespace } from '@csda/testing';
import { openBareRunner, type BareFigures } from './ingest-bare.ts';
import { describeDocs, mixedDocuments, peakRssMiB, resetPeakRss, textPdfDoc, type BenchDoc } from './ingest-workloads.ts';
import { fmt, runAll } from './load.ts';

const env = process.env;
const PDF_PAGES = Number(env.BENCH_INGEST_PDF_PAGES ?? 200);
const MIXED = Number(env.BENCH_INGEST_MIXED ?? 100);
const CONCURRENCY = Number(env.BENCH_INGEST_CONCURRENCY ?? 2);
const THREADS = env.EMBEDDING_THREADS ?? '2';
const EMBED_CHUNKS = 32;
const STANDIN_DIMS = 64;
/** Uploads in flight at once: enough to keep the pipeline fed without 100 streams contending with it. */
const UPLOAD_LANES = 4;
const PROVIDERS = { local: ['local'], standin: ['standin'], both: ['local', 'standin'] }[env.BENCH_INGEST_EMBEDDINGS ?? 'both'] as ('local' | 'standin')[] | undefined;

interface Workload {
  readonly name: string;
  readonly docs: readonly BenchDoc[];
}

interface PipelineFigures {
  readonly s: number;
  readonly uploadedS: number;
  readonly chunks: number;
  readonly model: string;
  /** Summed over the documents, ms. */
  readonly stageMs: Readonly<Record<string, number>>;
  readonly rssMiB: Readonly<Record<'document-ingest' | 'search', number>>;
}

interface Result {
  readonly workload: Workload;
  readonly pipeline: PipelineFigures;
  readonly bare: BareFigures;
}

/** document-ingest and search, migrated and started in their own database and NATS namespace, embedding with `embedEnv`. */
async function openPipeline(embedEnv: Record<string, string>) {
  const namespace = testNamespace();
  const db = await createTestDatabase('bench_ingest');
  const keys = generateTestKeys();
  const common = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...embedEnv };
  const ingestEnv = { ...keys.envFor('document-ingest'), ...common, DOCUMENT_CONCURRENCY: String(CONCURRENCY), DOCUMENT_EMBED_CHUNKS: String(EMBED_CHUNKS) };
  const searchEnv = { ...keys.envFor('search'), ...common, EMBEDDING_THREADS: '1' };
  const procs: Awaited<ReturnType<typeof startService>>[] = [];
  const close = async () => {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await db.drop();
    await deleteNamespace(namespace);
  };
  try {
    for (const [service, e] of [['document-ingest', ingestEnv], ['search', searchEnv]] as const) {
      const migrated = await runCommand(service, 'migrate', e);
      if (migrated.code !== 0) throw new Error(`${service} migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
    }
    const search = await startService('search', searchEnv, 120_000);
    procs.push(search);
    const ingest = await startService('document-ingest', ingestEnv, 120_000);
    procs.push(ingest);
    // startService spawns node itself (no shell in between): these pids are the services.
    const pids = { 'document-ingest': ingest.process.pid!, search: search.process.pid! };
    const client = createServiceClient(DocumentIngestService, `http://127.0.0.1:${ingest.rpcPort}`);
    const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const permissions = [...(SEEDED_ROLES.find((r) => r.name === 'USER')?.permissions ?? [])];
    const bench: Principal = { kind: 'user', id: 'user-bench', name: 'bench', roles: ['USER'], permissions };
    const options = async () => ({ headers: principalHeaders(await gateway.sign(bench, 'document-ingest')) });
    const status = async (id: string) => (await client.getDocumentStatus({ id }, await options())).status!;

    const upload = async (d: BenchDoc) => {
      async function* parts(): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
        yield { part: { case: 'metadata', value: { filename: d.filename, allowDuplicate: true } } };
        for (let at = 0; at < d.bytes.length; at += 256 * 1024) yield { part: { case: 'chunk', value: d.bytes.subarray(at, at + 256 * 1024) } };
        yield { part: { case: 'end', value: {} } };
      }
      return (await client.uploadDocument(parts(), await options())).document!.id;
    };
    // Documents finish roughly in upload order: polling stops at the first one not ready, so the bench's
    // status calls stay a few per round instead of one per document (they would take CPU from the pipeline).
    const ready = async (ids: readonly string[]) => {
      const deadline = Date.now() + 1_800_000;
      for (let next = 0; next < ids.length; ) {
        const s = await status(ids[next]!);
        if (s.status === 'failed') throw new Error(`document ${ids[next]} failed: ${s.error}`);
        if (s.status === 'ready') next++;
        else if (Date.now() > deadline) throw new Error(`${ids.length - next} documents not ready after 30 minutes`);
        else await new Promise((r) => setTimeout(r, 50));
      }
    };

    return {
      close,
      async warm(d: BenchDoc) {
        await ready([await upload(d)]);
      },
      async run(docs: readonly BenchDoc[]): Promise<PipelineFigures> {
        for (const pid of Object.values(pids)) resetPeakRss(pid);
        const ids: string[] = new Array(docs.length);
        const started = performance.now();
        const uploadedS = await runAll(docs.length, UPLOAD_LANES, async (i) => {
          ids[i] = await upload(docs[i]!);
        });
        await ready(ids);
        const s = (performance.now() - started) / 1000;
        const rssMiB = { 'document-ingest': peakRssMiB(pids['document-ingest']), search: peakRssMiB(pids.search) };
        const stageMs: Record<string, number> = {};
        let chunks = 0;
        let model = '';
        for (const id of ids) {
          const st = await status(id);
          chunks += st.chunksTotal;
          model = st.model;
          for (const [k, v] of Object.entries(st.stageMs)) stageMs[k] = (stageMs[k] ?? 0) + Number(v);
        }
        return { s, uploadedS, chunks, model, stageMs, rssMiB };
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const rate = (n: number, s: number) => (n > 0 ? fmt(n / s, n / s < 10 ? 2 : 1) : '—');
const row = (label: string, s: number, docs: number, pages: number, chunks: number, extra = '') =>
  `  ${label.padEnd(34)}${fmt(s, 2).padStart(8)} s ${rate(docs, s).padStart(8)} ${rate(pages, s).padStart(8)} ${rate(chunks, s).padStart(9)}   ${extra}`;

function report(label: string, results: readonly Result[]): string[] {
  const lines = ['', label, `  ${''.padEnd(34)}${'wall'.padStart(10)} ${'docs/s'.padStart(8)} ${'pages/s'.padStart(8)} ${'chunks/s'.padStart(9)}`];
  for (const { workload, pipeline: p, bare: b } of results) {
    const n = workload.docs.length;
    // pages/s only where every document has pages: over a mixed set it would count the PDFs' pages against everyone's time.
    const pages = workload.docs.every((d) => d.format === 'pdf') ? workload.docs.reduce((sum, d) => sum + d.pages, 0) : 0;
    const bareS = b.parseS + b.embedS;
    const perDoc = (stage: string) => `${fmt((p.stageMs[stage] ?? 0) / n, 0)} ms`;
    lines.push(
      `${workload.name}: ${describeDocs(workload.docs)}`,
      row('pipeline upload → ready', p.s, n, pages, p.chunks, `×${fmt(p.s / bareS, 2)} parse+embed, ×${fmt(p.s / b.embedS, 2)} embed alone (uploads answered after ${fmt(p.uploadedS, 1)} s)`),
      row('bare parse (parse workers)', b.parseS, n, pages, b.chunks),
      row('bare embed (stage rounds)', b.embedS, n, pages, b.chunks, `${b.passages} passages, ${fmt(b.passages / b.embedS)} passages/s`),
      row('bare parse + embed', bareS, n, pages, b.chunks, `(chunkDocument besides: ${fmt(b.chunkS, 2)} s)`),
      `  overhead                           ${fmt((p.s / bareS - 1) * 100)} % over parse + embed (storage, queues, outbox, chunking, search indexing and its confirmation)`,
      // stage_ms counts from when the stage was queued: with more documents than DOCUMENT_CONCURRENCY it includes waiting for a slot.
      `  stage_ms per document              parse ${perDoc('parse')}, chunk ${perDoc('chunk')}, embed ${perDoc('embed')}, index ${perDoc('index')} (from queued: includes waiting for a slot)`,
      `  peak RSS                           document-ingest ${fmt(p.rssMiB['document-ingest'], 0)} MiB, search ${fmt(p.rssMiB.search, 0)} MiB, bench during the bare runs ${fmt(b.peakRssMiB, 0)} MiB`,
    );
  }
  return lines;
}

function targets(local: readonly Result[], standin: readonly Result[] | undefined): string[] {
  const overheads = local.map(({ workload, pipeline, bare }) => ({ name: workload.name, pct: (pipeline.s / (bare.parseS + bare.embedS) - 1) * 100 }));
  const pdf = local[0]!;
  const pages = pdf.workload.docs[0]!.pages;
  const pagesPerS = pages / pdf.pipeline.s;
  const lines = [
    '',
    `target: overhead ≤ 20 % with the local model → ${overheads.map((o) => `${o.name} ${fmt(o.pct)} %`).join(', ')} → ${overheads.every((o) => o.pct <= 20) ? 'met' : 'NOT met'}`,
    `target: ≥ 20 pages/s end to end for the text PDF with the local model → ${fmt(pagesPerS)} pages/s → ${pagesPerS >= 20 ? 'met' : 'NOT met'}`,
  ];
  if (pagesPerS < 20) {
    const embedPagesPerS = pages / pdf.bare.embedS;
    const parsePagesPerS = pages / pdf.bare.parseS;
    const passagesPerPage = pdf.bare.passages / pages;
    const standinPdf = standin?.[0];
    lines.push(
      `  ceiling: the local model alone embeds this PDF at ${fmt(embedPagesPerS)} pages/s (${fmt(pdf.bare.passages / pdf.bare.embedS)} passages/s on ${THREADS} threads, ${fmt(passagesPerPage)} passages a page); parsing alone runs at ${fmt(parsePagesPerS)} pages/s`,
      embedPagesPerS < 20
        ? `  20 pages/s needs ≥ ${fmt(20 * passagesPerPage, 0)} passages/s of embedding, ${fmt(20 / embedPagesPerS)}× what ${cpus().length} cores give the local model: more cores for EMBEDDING_THREADS, or EMBEDDING_PROVIDER=openai to a server with an accelerator`
        : '  the model alone is fast enough: the pipeline around it is what is short of 20 pages/s',
      standinPdf
        ? `  with the model's cost taken out (stand-in), the pipeline runs this PDF at ${fmt(pages / standinPdf.pipeline.s)} pages/s: that is the pipeline's own ceiling on this machine`
        : '  (BENCH_INGEST_EMBEDDINGS=both adds the stand-in run: the pipeline\'s own ceiling with the model\'s cost taken out)',
    );
  }
  return lines;
}

export async function benchIngest(): Promise<void> {
  if (!PROVIDERS) throw new Error(`BENCH_INGEST_EMBEDDINGS must be local, standin or both (got ${env.BENCH_INGEST_EMBEDDINGS})`);
  const loadBefore = loadavg()[0]!;
  process.stdout.write(`generating a ${PDF_PAGES}-page text PDF and ${MIXED} mixed documents…\n`);
  const warm = await textPdfDoc(0, 2);
  const workloads: Workload[] = [
    { name: `text PDF, ${PDF_PAGES} pages`, docs: [await textPdfDoc(1, PDF_PAGES)] },
    { name: `${MIXED} mixed documents`, docs: await mixedDocuments(MIXED) },
  ];
  const standin = PROVIDERS.includes('standin') ? await startEmbeddingServer({ dims: STANDIN_DIMS, model: 'bench-hash' }) : undefined;
  const out: Partial<Record<'local' | 'standin', Result[]>> = {};
  try {
    for (const provider of PROVIDERS) {
      const embedEnv = provider === 'local' ? { EMBEDDING_PROVIDER: 'local', EMBEDDING_THREADS: THREADS } : standin!.env();
      process.stdout.write(`[${provider}] starting document-ingest and search…\n`);
      const pipeline = await openPipeline(embedEnv);
      const figures: PipelineFigures[] = [];
      try {
        await pipeline.warm(warm);
        for (const w of workloads) {
          process.stdout.write(`[${provider}] pipeline: ${w.name}, upload → ready…\n`);
          figures.push(await pipeline.run(w.docs));
        }
      } finally {
        await pipeline.close();
      }
      // With the services stopped, so the bare runs have the machine to themselves.
      const bare = await openBareRunner(embedEnv, { concurrency: CONCURRENCY, embedChunks: EMBED_CHUNKS, warm });
      const results: Result[] = [];
      try {
        for (const [i, w] of workloads.entries()) {
          process.stdout.write(`[${provider}] bare: ${w.name}, parse then embed…\n`);
          results.push({ workload: w, pipeline: figures[i]!, bare: await bare.run(w.docs) });
        }
      } finally {
        await bare.close();
      }
      out[provider] = results;
    }
  } finally {
    await standin?.close();
  }

  const lines = [
    '',
    `ingest benchmark — node ${process.version}, ${cpus().length} cores (load average ${fmt(loadBefore)} before, ${fmt(loadavg()[0]!)} after), DOCUMENT_CONCURRENCY ${CONCURRENCY}, DOCUMENT_EMBED_CHUNKS ${EMBED_CHUNKS}, ${UPLOAD_LANES} uploads at once`,
  ];
  if (out.local) lines.push(...report(`local model (${out.local[0]!.pipeline.model}), EMBEDDING_THREADS ${THREADS} in document-ingest and the bare runs, 1 in search`, out.local));
  if (out.standin) lines.push(...report(`external embedding server stand-in (${STANDIN_DIMS}-d hash vectors over HTTP): the pipeline's own cost`, out.standin));
  if (out.local) lines.push(...targets(out.local, out.standin));
  else lines.push('', 'targets (overhead ≤ 20 %, ≥ 20 pages/s) are for the local model: BENCH_INGEST_EMBEDDINGS=local or both');
  process.stdout.write(`${lines.join('\n')}\n`);
}
