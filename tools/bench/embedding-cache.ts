// Corpus vectors computed once and kept under .data/bench/vectors/ (gitignored),
// so the embeddings and search-quality benches do not embed SciFact again:
// ~10 minutes of CPU per variant on this machine. Written in blocks of
// documents, so an interrupted run resumes where it stopped.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitPassages, type EmbeddingProvider } from '@csda/embeddings';
import type { IrDoc } from './ir-corpus.ts';

/** How a document becomes texts to embed. */
export type Granularity =
  /** One vector per document: title and text together. */
  | { kind: 'document' }
  /** One vector per passage (splitPassages of the text); the title is its own passage when includeTitle. */
  | { kind: 'passages'; maxTokens: number; maxSentences?: number; includeTitle: boolean };

export interface CorpusItem {
  /** Index into the docs array. */
  readonly doc: number;
  /** 0-based passage number within its document (the title, when included, is 0). */
  readonly passage: number;
  /** Offsets into `doc.text`; -1 for the title or the whole document. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export interface CorpusVectors {
  readonly model: string;
  readonly dimensions: number;
  readonly items: readonly CorpusItem[];
  /** Row-major items.length × dimensions unit vectors. */
  readonly vectors: Float32Array;
  /** Rows that were embedded now (0 when everything came from the cache). */
  readonly computed: number;
}

const BLOCK_DOCS = 100;
const CACHE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '.data', 'bench', 'vectors');

/** The texts a document is embedded as, in the given granularity. */
export function corpusItems(docs: readonly IrDoc[], granularity: Granularity): CorpusItem[] {
  const items: CorpusItem[] = [];
  docs.forEach((d, doc) => {
    if (granularity.kind === 'document') {
      items.push({ doc, passage: 0, start: -1, end: -1, text: d.title ? `${d.title}\n${d.text}` : d.text });
      return;
    }
    let passage = 0;
    if (granularity.includeTitle && d.title) items.push({ doc, passage: passage++, start: -1, end: -1, text: d.title });
    const options = { maxTokens: granularity.maxTokens, ...(granularity.maxSentences ? { maxSentences: granularity.maxSentences } : {}) };
    for (const p of splitPassages(d.text, options)) items.push({ doc, passage: passage++, start: p.start, end: p.end, text: p.text });
    if (passage === 0) items.push({ doc, passage: 0, start: 0, end: d.text.length, text: d.text });
  });
  return items;
}

/**
 * Vectors of `docs` under `granularity` by `provider`, from the cache when
 * present (keyed by model identity, granularity and a hash of the texts embedded).
 */
export async function corpusVectors(
  provider: EmbeddingProvider,
  docs: readonly IrDoc[],
  granularity: Granularity,
  onProgress?: (done: number, total: number) => void,
): Promise<CorpusVectors> {
  const items = corpusItems(docs, granularity);
  const dir = join(CACHE_ROOT, provider.model.replace(/[^A-Za-z0-9.@_-]/g, '_'), cacheKey(docs.length, items, granularity));
  mkdirSync(dir, { recursive: true });
  const dims = provider.dimensions;
  const vectors = new Float32Array(items.length * dims);
  let computed = 0;
  let row = 0;
  for (let first = 0; first < docs.length; first += BLOCK_DOCS) {
    const blockRows: number[] = [];
    while (row < items.length && items[row]!.doc < first + BLOCK_DOCS) blockRows.push(row++);
    const file = join(dir, `block-${String(first / BLOCK_DOCS).padStart(5, '0')}.f32`);
    const expectedBytes = blockRows.length * dims * 4;
    let block: Float32Array | undefined;
    if (existsSync(file)) {
      const bytes = readFileSync(file);
      if (bytes.length === expectedBytes) block = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    }
    if (!block) {
      const embedded = await provider.embed(blockRows.map((r) => items[r]!.text));
      block = new Float32Array(blockRows.length * dims);
      embedded.forEach((v, i) => block!.set(v, i * dims));
      writeFileSync(`${file}.tmp`, Buffer.from(block.buffer));
      renameSync(`${file}.tmp`, file);
      computed += blockRows.length;
    }
    if (blockRows.length > 0) vectors.set(block, blockRows[0]! * dims);
    onProgress?.(Math.min(first + BLOCK_DOCS, docs.length), docs.length);
  }
  return { model: provider.model, dimensions: dims, items, vectors, computed };
}

/** Keyed by the exact texts embedded, so a change in splitPassages or the corpus never reuses stale vectors. */
function cacheKey(docCount: number, items: readonly CorpusItem[], granularity: Granularity): string {
  const hash = createHash('sha256');
  for (const item of items) hash.update(`${item.doc}\u0000${item.text}\u0001`);
  const name =
    granularity.kind === 'document'
      ? 'document'
      : `passages-t${granularity.maxTokens}${granularity.maxSentences ? `-s${granularity.maxSentences}` : ''}${granularity.includeTitle ? '-title' : ''}`;
  return `${name}-${docCount}-${hash.digest('hex').slice(0, 16)}`;
}
