import { v5 as uuidv5 } from 'uuid';
import type { ParsedDocument } from '../types.ts';
import { countTokens, splitToBudget, tailSentences, tokensWithin } from './tokens.ts';

/**
 * Default chunk budget, in cl100k_base tokens. The local embedding model
 * (Universal Sentence Encoder Lite, libs/embeddings) loses quality on long
 * inputs and search scores a chunk by its best passage (sentence group), so a
 * chunk should be a few passages, not a page: ~256 tokens is about one to two
 * paragraphs, the grain the embeddings measurements were taken at (~215-token
 * chunks), and leaves room in any remote model's input.
 */
export const DEFAULT_CHUNK_TOKENS = 256;
/** Default overlap: the last sentences of the previous chunk of the same section, up to this many tokens. */
export const DEFAULT_OVERLAP_TOKENS = 32;
/** Namespace of chunk ids (UUID v5 of "documentId:version:index"). */
export const CHUNK_ID_NAMESPACE = 'e2a81710-8d3c-4362-8e86-1a3d99755e88';

export interface Chunk {
  /** UUID v5 of documentId, version and index: the same input chunks to the same ids. */
  id: string;
  index: number;
  text: string;
  tokens: number;
  /** The headings the chunk sits under, outermost first. */
  headingPath: string[];
  /** PDF: the first and last page the chunk's text comes from. */
  pageStart?: number;
  pageEnd?: number;
}

export interface ChunkOptions {
  documentId: string;
  version: number;
  /** Budget per chunk, overlap included. Default `DEFAULT_CHUNK_TOKENS`. */
  maxTokens?: number;
  /** Default `DEFAULT_OVERLAP_TOKENS`; 0 turns overlap off. Must be under half of `maxTokens`. */
  overlapTokens?: number;
}

interface Unit {
  text: string;
  tokens: number;
  page: number | undefined;
  heading: boolean;
  /** Table rows: the header row, repeated at the top of each chunk the table spans. */
  tableHeader?: { text: string; tokens: number };
}

interface Draft {
  units: Unit[];
  tokens: number;
  headingPath: string[];
  /** Only headings (and overlap) so far: another heading joins instead of closing it. */
  onlyHeadings: boolean;
  header?: string;
}

function rowText(cells: string[]): string {
  return cells.join(' | ');
}

/**
 * Cuts a parsed document into chunks for embedding: a heading starts a new
 * chunk (consecutive headings stay together), paragraphs, list items and
 * table rows are packed up to `maxTokens`, longer ones split by sentence, and
 * a chunk cut for size starts with the last sentences of the one before it
 * (`overlapTokens`). Each chunk carries its heading path and, for PDF, its
 * page range. Ids are deterministic: UUID v5 of "documentId:version:index".
 */
export function chunkDocument(doc: ParsedDocument, options: ChunkOptions): Chunk[] {
  const maxTokens = options.maxTokens ?? DEFAULT_CHUNK_TOKENS;
  const overlapTokens = options.overlapTokens ?? DEFAULT_OVERLAP_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 16) throw new RangeError(`maxTokens must be an integer ≥ 16 (got ${maxTokens})`);
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens * 2 >= maxTokens) throw new RangeError(`overlapTokens must be an integer ≥ 0 and under half of maxTokens (got ${overlapTokens})`);
  const pieceBudget = maxTokens - overlapTokens - 1;
  const chunks: Chunk[] = [];
  const path: { level: number; text: string }[] = [];
  let page: number | undefined = doc.format === 'pdf' ? 1 : undefined;
  let draft: Draft = { units: [], tokens: 0, headingPath: [], onlyHeadings: true };

  const emit = (d: Draft, last = false): void => {
    if (d.units.length === 0 || (d.onlyHeadings && !last)) return;
    const lines: string[] = [];
    let header: string | undefined;
    for (const u of d.units) {
      if (u.tableHeader && header !== u.tableHeader.text) {
        header = u.tableHeader.text;
        if (u.text !== header) lines.push(header);
      } else if (!u.tableHeader) header = undefined;
      lines.push(u.text);
    }
    const text = lines.join('\n');
    const pages = d.units.map((u) => u.page).filter((p): p is number => p !== undefined);
    const index = chunks.length;
    chunks.push({
      id: uuidv5(`${options.documentId}:${options.version}:${index}`, CHUNK_ID_NAMESPACE),
      index,
      text,
      tokens: countTokens(text),
      headingPath: d.headingPath,
      ...(pages.length ? { pageStart: Math.min(...pages), pageEnd: Math.max(...pages) } : {}),
    });
  };
  const fresh = (): Draft => ({ units: [], tokens: 0, headingPath: path.map((h) => h.text), onlyHeadings: true });

  const add = (unit: Unit): void => {
    const headerCost = unit.tableHeader && !draft.units.some((u) => u.tableHeader?.text === unit.tableHeader?.text) ? unit.tableHeader.tokens + 1 : 0;
    const cost = unit.tokens + (draft.units.length ? 1 : 0) + headerCost;
    if (draft.units.length > 0 && draft.tokens + cost > maxTokens && !draft.onlyHeadings) {
      const previous = draft;
      emit(previous);
      draft = fresh();
      draft.headingPath = previous.headingPath;
      const tail = overlapTokens > 0 ? tailSentences(previous.units.map((u) => u.text).join('\n'), overlapTokens) : undefined;
      if (tail) {
        const last = previous.units.at(-1);
        draft.units.push({ text: tail.text, tokens: tail.tokens, page: last?.page, heading: false, ...(last?.tableHeader ? { tableHeader: last.tableHeader } : {}) });
        draft.tokens = tail.tokens + (last?.tableHeader ? last.tableHeader.tokens + 1 : 0);
      }
    }
    const again = unit.tableHeader && !draft.units.some((u) => u.tableHeader?.text === unit.tableHeader?.text) ? unit.tableHeader.tokens + 1 : 0;
    draft.tokens += unit.tokens + (draft.units.length ? 1 : 0) + again;
    draft.units.push(unit);
    if (!unit.heading) draft.onlyHeadings = false;
  };

  const addText = (text: string, blockPage: number | undefined, tableHeader?: Unit['tableHeader']): void => {
    const budget = pieceBudget - (tableHeader ? tableHeader.tokens + 1 : 0);
    const tokens = tokensWithin(text, budget);
    const pieces = tokens !== undefined ? [{ text, tokens }] : splitToBudget(text, Math.max(8, budget));
    for (const piece of pieces) add({ text: piece.text, tokens: piece.tokens, page: blockPage, heading: false, ...(tableHeader ? { tableHeader } : {}) });
  };

  for (const block of doc.blocks) {
    if (block.type === 'page_break') {
      page = block.page;
      continue;
    }
    const blockPage = block.page ?? page;
    if (block.type === 'heading') {
      while (path.length && (path.at(-1)?.level ?? 0) >= block.level) path.pop();
      path.push({ level: block.level, text: block.text });
      if (!draft.onlyHeadings) {
        emit(draft);
        draft = fresh();
      } else draft.headingPath = path.map((h) => h.text);
      const tokens = tokensWithin(block.text, pieceBudget);
      if (tokens === undefined) addText(block.text, blockPage);
      else add({ text: block.text, tokens, page: blockPage, heading: true });
      continue;
    }
    if (block.type === 'table') {
      const [first, ...rest] = block.rows;
      if (!first) continue;
      const headerText = rowText(first);
      const headerTokens = block.header ? tokensWithin(headerText, Math.floor(maxTokens / 4)) : undefined;
      const header = headerTokens !== undefined ? { text: headerText, tokens: headerTokens } : undefined;
      for (const row of header ? rest : block.rows) addText(rowText(row), blockPage, header);
      if (header && rest.length === 0) addText(headerText, blockPage);
      continue;
    }
    addText(block.type === 'list_item' ? `${'  '.repeat(block.depth)}- ${block.text}` : block.text, blockPage);
  }
  emit(draft, true);
  return chunks;
}
