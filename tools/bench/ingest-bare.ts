// The bare work behind the ingest pipeline, for `npm run bench -- ingest`:
// the same documents parsed in parse workers, chunked, and embedded the way
// document-ingest's embed stage does it (splitPassages per chunk, one embed
// call per round of DOCUMENT_EMBED_CHUNKS chunks), with no storage, queues or
// search. Parse and embed are timed as separate phases, each at the
// pipeline's concurrency, so each is the raw speed of that step alone.
import { chunkDocument, createDocumentParser, type ParsedDocument } from '@csda/documents';
import { createEmbeddingProvider, splitPassages, type EmbeddingEnv } from '@csda/embeddings';
import type { BenchDoc } from './ingest-workloads.ts';
import { peakRssMiB, resetPeakRss } from './ingest-workloads.ts';
import { runAll } from './load.ts';

export interface BareFigures {
  readonly parseS: number;
  /** chunkDocument in this thread (the pipeline runs it in a worker); beside the two phases, not part of either. */
  readonly chunkS: number;
  readonly embedS: number;
  readonly chunks: number;
  readonly passages: number;
  /** This process's peak RSS over the three phases (the model's worker threads included). */
  readonly peakRssMiB: number;
}

export interface BareRunner {
  run(docs: readonly BenchDoc[]): Promise<BareFigures>;
  close(): Promise<void>;
}

const ID = '00000000-0000-4000-8000-000000000000';

/** Parse workers and an embedding provider from `embedEnv`, warmed on `warm` before anything is timed. */
export async function openBareRunner(embedEnv: EmbeddingEnv, options: { concurrency: number; embedChunks: number; warm: BenchDoc }): Promise<BareRunner> {
  const { concurrency, embedChunks } = options;
  const parser = createDocumentParser({ spares: concurrency });
  const embedder = createEmbeddingProvider(embedEnv);

  const passagesOf = (docChunks: readonly { text: string }[]) =>
    docChunks.map((c) => {
      const texts = splitPassages(c.text).map((p) => p.text.trim()).filter((t) => t !== '');
      return texts.length > 0 ? texts : [c.text];
    });
  const parse = (d: BenchDoc) => parser.parse(d.bytes, { format: d.format });
  const chunk = (doc: ParsedDocument, i: number) =>
    chunkDocument(doc, { documentId: ID, version: i + 1 })
      .map((c) => ({ text: c.text.trim() }))
      .filter((c) => c.text !== '');
  const embed = async (docChunks: readonly { text: string }[]) => {
    let passages = 0;
    for (let at = 0; at < docChunks.length; at += embedChunks) {
      const round = passagesOf(docChunks.slice(at, at + embedChunks)).flat();
      passages += round.length;
      await embedder.embed(round);
    }
    return passages;
  };

  try {
    await embedder.ready?.();
    await embed(chunk(await parse(options.warm), 0)); // workers, tokenizers, HTTP keep-alive
  } catch (err) {
    await Promise.all([parser.close(), embedder.close()]);
    throw err;
  }

  return {
    async run(docs) {
      resetPeakRss('self');
      const parsed: ParsedDocument[] = new Array(docs.length);
      const parseS = await runAll(docs.length, concurrency, async (i) => {
        parsed[i] = await parse(docs[i]!);
      });
      const t = performance.now();
      const chunked = parsed.map(chunk);
      const chunkS = (performance.now() - t) / 1000;
      let passages = 0;
      const embedS = await runAll(docs.length, concurrency, async (i) => {
        passages += await embed(chunked[i]!);
      });
      return { parseS, chunkS, embedS, chunks: chunked.reduce((n, c) => n + c.length, 0), passages, peakRssMiB: peakRssMiB('self') };
    },
    async close() {
      await Promise.all([parser.close(), embedder.close()]);
    },
  };
}
