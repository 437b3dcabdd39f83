// `npm run bench -- ingest`: upload → ready
// throughput through document-ingest (with a real search confirming each
// version), beside the bare work of the same documents — parse in a worker,
// chunkDocument, splitPassages + embed in rounds of DOCUMENT_EMBED_CHUNKS — at
// the same concurrency. Embeddings come from a local OpenAI-compatible
// stand-in (hash-seeded vectors, 127.0.0.1), so neither side waits on a model.
// Prints pages/s, the pipeline's overhead over the bare work and its stage
// times; asserts nothing. Targets (issue 10): overhead ≤ 20 %, ≥ 20 pages/s.
import { cpus, loadavg } from 'node:os';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { chunkDocument, createDocumentParser } from '@csda/documents';
import { createEmbeddingProvider, splitPassages } from '@csda/embeddings';
import { DocumentIngestService, type UploadDocumentRequestSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, runCommand, startEmbeddingServer, startService, testNamespace } from '@csda/testing';
import { PDFDocument, StandardFonts } from 'pdf-lib';

const DOCS = Number(process.env.BENCH_INGEST_DOCS ?? 12);
const PAGES = Number(process.env.BENCH_INGEST_PAGES ?? 20);
const CONCURRENCY = Number(process.env.BENCH_INGEST_CONCURRENCY ?? 2);
const EMBED_CHUNKS = 32;
const DIMS = 64;

const WORDS = 'tide moon gravity ocean current basin shore wave energy orbit coast harbour salinity estuary delta plankton reef storm surge latitude'.split(' ');

/** A text PDF of `pages` pages, each a heading and ~12 lines of prose naming the document and page (pdf-lib, Helvetica). */
async function textPdf(doc: number, pages: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  let seed = doc * 7919 + 1;
  const word = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return WORDS[seed % WORDS.length]!;
  };
  for (let p = 0; p < pages; p++) {
    const page = pdf.addPage([595, 842]);
    page.drawText(`Document ${doc} chapter ${p + 1}`, { x: 50, y: 790, size: 20, font });
    for (let line = 0; line < 36; line++) {
      const text = `${Array.from({ length: 11 }, word).join(' ')}${line % 3 === 2 ? '.' : ','} page ${p + 1}`;
      // A blank line every third: paragraphs.
      page.drawText(text, { x: 50, y: 750 - line * 18 - Math.floor(line / 3) * 6, size: 10, font });
    }
  }
  return pdf.save();
}

/** Runs `work` over `items` with `lanes` at once; the wall time in ms. */
async function lanes<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
  return performance.now() - started;
}

/** Parse → chunk → passages → embed, as the pipeline's stages do it, without storage, queues or search. */
async function bareRun(files: readonly Uint8Array[], embedEnv: Record<string, string>): Promise<{ ms: number; chunks: number; parseMs: number; chunkMs: number; embedMs: number }> {
  const parser = createDocumentParser({ spares: CONCURRENCY });
  const embedder = createEmbeddingProvider(embedEnv);
  const totals = { chunks: 0, parseMs: 0, chunkMs: 0, embedMs: 0 };
  try {
    const one = async (bytes: Uint8Array, i: number) => {
      let t = performance.now();
      const doc = await parser.parse(bytes, { format: 'pdf' });
      totals.parseMs += performance.now() - t;
      t = performance.now();
      const chunks = chunkDocument(doc, { documentId: '00000000-0000-4000-8000-000000000000', version: i + 1 });
      totals.chunkMs += performance.now() - t;
      totals.chunks += chunks.length;
      t = performance.now();
      for (let at = 0; at < chunks.length; at += EMBED_CHUNKS) {
        const passages = chunks.slice(at, at + EMBED_CHUNKS).flatMap((c) => {
          const texts = splitPassages(c.text).map((p) => p.text.trim()).filter((x) => x !== '');
          return texts.length > 0 ? texts : [c.text];
        });
        await embedder.embed(passages);
      }
      totals.embedMs += performance.now() - t;
    };
    await one(files[0]!, 0); // warm: workers, tokenizer, HTTP keep-alive
    Object.assign(totals, { chunks: 0, parseMs: 0, chunkMs: 0, embedMs: 0 });
    const ms = await lanes(
      files.map((f, i) => [f, i] as const),
      CONCURRENCY,
      ([f, i]) => one(f, i),
    );
    return { ms, ...totals };
  } finally {
    await parser.close();
    await embedder.close();
  }
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

export async function benchIngest(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  process.stdout.write(`generating ${DOCS} PDFs of ${PAGES} pages…\n`);
  const files = await Promise.all(Array.from({ length: DOCS + 1 }, (_, i) => textPdf(i, PAGES)));
  const [warm, ...docs] = files;
  // The /v1/embeddings stand-in: a deterministic unit vector per text.
  const embeddings = await startEmbeddingServer({ dims: DIMS, model: 'bench-hash' });
  const namespace = testNamespace();
  const db = await createTestDatabase('bench_ingest');
  const keys = generateTestKeys();
  const common = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...embeddings.env() };
  const ingestEnv = { ...keys.envFor('document-ingest'), ...common, DOCUMENT_CONCURRENCY: String(CONCURRENCY), DOCUMENT_EMBED_CHUNKS: String(EMBED_CHUNKS) };
  const searchEnv = { ...keys.envFor('search'), ...common };
  const procs: { stop(): Promise<number | null> }[] = [];
  try {
    for (const [service, env] of [['document-ingest', ingestEnv], ['search', searchEnv]] as const) {
      const migrated = await runCommand(service, 'migrate', env);
      if (migrated.code !== 0) throw new Error(`${service} migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
    }
    const search = await startService('search', searchEnv);
    procs.push(search);
    const ingest = await startService('document-ingest', ingestEnv);
    procs.push(ingest);
    const client = createServiceClient(DocumentIngestService, `http://127.0.0.1:${ingest.rpcPort}`);
    const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const permissions = [...(SEEDED_ROLES.find((r) => r.name === 'USER')?.permissions ?? [])];
    const bench: Principal = { kind: 'user', id: 'user-bench', name: 'bench', roles: ['USER'], permissions };
    const options = async () => ({ headers: principalHeaders(await gateway.sign(bench, 'document-ingest')) });

    const upload = async (bytes: Uint8Array, i: number) => {
      async function* parts(): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
        yield { part: { case: 'metadata', value: { filename: `bench-${i}.pdf`, allowDuplicate: true } } };
        for (let at = 0; at < bytes.length; at += 256 * 1024) yield { part: { case: 'chunk', value: bytes.subarray(at, at + 256 * 1024) } };
        yield { part: { case: 'end', value: {} } };
      }
      return (await client.uploadDocument(parts(), await options())).document!.id;
    };
    const ready = async (ids: readonly string[]) => {
      const left = new Set(ids);
      const deadline = Date.now() + 600_000;
      while (left.size > 0) {
        if (Date.now() > deadline) throw new Error(`${left.size} documents not ready after 10 minutes`);
        for (const id of [...left]) {
          const { status } = await client.getDocumentStatus({ id }, await options());
          if (status?.status === 'failed') throw new Error(`document ${id} failed: ${status.error}`);
          if (status?.status === 'ready') left.delete(id);
        }
        if (left.size > 0) await new Promise((r) => setTimeout(r, 50));
      }
    };

    process.stdout.write('pipeline: warm-up document…\n');
    await ready([await upload(warm!, -1)]);
    process.stdout.write(`pipeline: ${DOCS} documents, upload → ready, DOCUMENT_CONCURRENCY ${CONCURRENCY}…\n`);
    const started = performance.now();
    const ids = await Promise.all(docs.map((d, i) => upload(d, i)));
    const uploadedMs = performance.now() - started;
    await ready(ids);
    const pipelineMs = performance.now() - started;
    const stage: Record<string, number> = {};
    let chunks = 0;
    for (const id of ids) {
      const { status } = await client.getDocumentStatus({ id }, await options());
      chunks += status?.chunksTotal ?? 0;
      for (const [k, v] of Object.entries(status?.stageMs ?? {})) stage[k] = (stage[k] ?? 0) + Number(v);
    }
    for (const p of procs.splice(0).reverse()) await p.stop();

    process.stdout.write('bare: parse → chunk → embed, same documents and concurrency…\n');
    const bare = await bareRun(docs, embeddings.env());

    const pages = DOCS * PAGES;
    const overhead = pipelineMs / bare.ms - 1;
    const perDoc = (ms: number) => `${fmt(ms / DOCS, 0)} ms/doc`;
    const lines = [
      '',
      `ingest benchmark — node ${process.version}, ${cpus().length} cores (load average ${fmt(loadBefore)} before, ${fmt(loadavg()[0]!)} after), ${DOCS} PDFs × ${PAGES} pages (${(docs.reduce((n, d) => n + d.length, 0) / 1024 / 1024).toFixed(1)} MiB), concurrency ${CONCURRENCY}, ${DIMS}-d stand-in embeddings`,
      `pipeline upload → ready        ${fmt(pipelineMs / 1000, 2)} s   ${fmt(pages / (pipelineMs / 1000))} pages/s   (uploads answered after ${fmt(uploadedMs, 0)} ms; ${chunks} chunks)`,
      // stage_ms counts from when the stage was queued: with more documents than DOCUMENT_CONCURRENCY it includes waiting for a slot.
      `  stage_ms per document        parse ${perDoc(stage.parse ?? 0)}, chunk ${perDoc(stage.chunk ?? 0)}, embed ${perDoc(stage.embed ?? 0)}, index (publish → search confirms) ${perDoc(stage.index ?? 0)} (from queued: includes waiting for a slot)`,
      `bare parse + chunk + embed     ${fmt(bare.ms / 1000, 2)} s   ${fmt(pages / (bare.ms / 1000))} pages/s   (${bare.chunks} chunks; parse ${perDoc(bare.parseMs)}, chunk ${perDoc(bare.chunkMs)}, embed ${perDoc(bare.embedMs)})`,
      `pipeline overhead              ${fmt(overhead * 100)} % over bare (storage, queues, outbox, search indexing and its confirmation included)`,
      `embedding texts served         ${embeddings.inputs.length}`,
      `targets: overhead ≤ 20 % → ${overhead <= 0.2 ? 'met' : 'NOT met'}; ≥ 20 pages/s → ${pages / (pipelineMs / 1000) >= 20 ? 'met' : 'NOT met'}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await embeddings.close();
    await db.drop();
    await deleteNamespace(namespace);
  }
}

