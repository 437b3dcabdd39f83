// Token counts with cl100k_base (gpt-tokenizer, offline BPE): the encoding of
// OpenAI's text-embedding-3 models, and a fair proxy for the local model's
// tokenizer. Special-token text in a document ("<|endoftext|>") is ordinary
// text: every tiktoken-style encoder throws on it unless the disallowed set is
// emptied.
//
// gpt-tokenizer merges the byte pairs of one pre-token (a run of letters,
// punctuation or whitespace) by rescanning and splicing the whole run for every
// merge: quadratic in the run's length (64 KiB of one letter: ~1 s, 64 KiB of
// CJK: ~10 s, 256 KiB: minutes). Text with such a run is counted here instead,
// pre-token by pre-token with the same split regex, and runs longer than
// LONG_PIECE merged with a heap (same merge order: lowest rank, leftmost
// first), O(n log n). Text without a long run takes gpt-tokenizer's own path,
// so ordinary text counts exactly as before.
import bpeRanks from 'gpt-tokenizer/bpeRanks/cl100k_base';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { CL100K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

const AS_TEXT = { disallowedSpecial: new Set<string>() };
/** A run of this many whitespace or non-whitespace characters sends the text down the heap path. */
const LONG_RUN = 256;
/** Pre-tokens longer than this (UTF-16 units) are merged with the heap, shorter ones by gpt-tokenizer. */
const LONG_PIECE = 128;

function hasLongRun(text: string): boolean {
  let run = 0;
  let space = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const s = c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(text[i] ?? ''));
    if (s === space) run++;
    else {
      space = s;
      run = 1;
    }
    if (run >= LONG_RUN) return true;
  }
  return false;
}

let rankByBytes: Map<string, number> | undefined;

/** cl100k ranks keyed by their bytes as a latin1 string (one char per byte); built on first use. */
function ranks(): Map<string, number> {
  if (rankByBytes) return rankByBytes;
  const map = new Map<string, number>();
  bpeRanks.forEach((value, rank) => {
    map.set(typeof value === 'string' ? Buffer.from(value, 'utf8').toString('latin1') : Buffer.from(value).toString('latin1'), rank);
  });
  rankByBytes = map;
  return map;
}

const NO_PAIR = -1;
const POS = 2 ** 32;

/** Binary min-heap of rank * 2^32 + position: lowest rank first, leftmost among equal ranks. */
class Heap {
  private items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: number): void {
    const a = this.items;
    let i = a.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] ?? 0) <= value) break;
      a[i] = a[parent] ?? 0;
      i = parent;
    }
    a[i] = value;
  }
  pop(): number {
    const a = this.items;
    const top = a[0] ?? 0;
    const last = a.pop() ?? 0;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && (a[r] ?? 0) < (a[l] ?? 0) ? r : l;
      if ((a[child] ?? 0) >= last) break;
      a[i] = a[child] ?? 0;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/** The number of tokens BPE leaves of one pre-token, merged with a heap (tiktoken's order). */
function mergedCount(piece: string): number {
  const table = ranks();
  const bytes = Buffer.from(piece, 'utf8').toString('latin1');
  if (table.has(bytes)) return 1;
  const n = bytes.length;
  // parts start at these byte offsets; next[n] = n + 1 closes the last part
  const next = new Int32Array(n + 1);
  const prev = new Int32Array(n + 1);
  const rankAt = new Int32Array(n + 1);
  const alive = new Uint8Array(n + 1);
  for (let i = 0; i <= n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
    alive[i] = 1;
  }
  const heap = new Heap();
  const pairRank = (i: number): number => {
    const k = next[i] ?? n;
    if (k >= n) return NO_PAIR;
    return table.get(bytes.slice(i, next[k])) ?? NO_PAIR;
  };
  const update = (i: number): void => {
    const r = pairRank(i);
    rankAt[i] = r;
    if (r !== NO_PAIR) heap.push(r * POS + i);
  };
  for (let i = 0; i < n - 1; i++) update(i);
  let parts = n;
  while (heap.size > 0) {
    const top = heap.pop();
    const i = top % POS;
    const r = (top - i) / POS;
    if (!alive[i] || rankAt[i] !== r) continue;
    const j = next[i] ?? n;
    next[i] = next[j] ?? n + 1;
    prev[next[j] ?? n] = i;
    alive[j] = 0;
    parts--;
    update(i);
    const before = prev[i] ?? -1;
    if (before >= 0) update(before);
  }
  return parts;
}

/** The number of cl100k_base tokens in `text`. Linear-ish (n log n) even for text without spaces. */
export function countTokens(text: string): number {
  if (!hasLongRun(text)) return encode(text, AS_TEXT).length;
  let count = 0;
  for (const [piece] of text.matchAll(CL100K_TOKEN_SPLIT_REGEX)) count += piece.length > LONG_PIECE ? mergedCount(piece) : encode(piece, AS_TEXT).length;
  return count;
}

/** The longest cl100k_base token, in bytes (a run of spaces); tested against the rank table. */
export const MAX_TOKEN_BYTES = 128;

/**
 * `countTokens(text)` if it is at most `limit`, else undefined. Text longer
 * than `limit` × MAX_TOKEN_BYTES UTF-16 units (never fewer UTF-8 bytes) has
 * more tokens than that and is not counted: a budget check costs nothing on a
 * long paragraph (and never merges a 50 MiB run).
 */
export function tokensWithin(text: string, limit: number): number | undefined {
  if (text.length > limit * MAX_TOKEN_BYTES) return undefined;
  const tokens = countTokens(text);
  return tokens <= limit ? tokens : undefined;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

/** Sentences (Intl.Segmenter: works for scripts without spaces, e.g. "。"), each with its trailing space. */
export function sentences(text: string): string[] {
  return Array.from(segmenter.segment(text), (s) => s.segment).filter((s) => s.trim() !== '');
}

/** Words with their leading whitespace; runs of CJK text are split per character (they have no spaces). */
function words(text: string): string[] {
  return text.match(/\s*[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|\s*[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|\s+$/gu) ?? [];
}

/** The index `count` code points after `from` (or the end), and how many there were. */
function advance(text: string, from: number, count: number): [end: number, codePoints: number] {
  let i = from;
  let n = 0;
  while (n < count && i < text.length) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    n++;
  }
  return [i, n];
}

/** A "word" longer than the budget (base64, a URL, a long CJK run): cut by code points (without an array of all of them). */
function hardSplit(word: string, maxTokens: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < word.length) {
    let [end, length] = advance(word, start, maxTokens);
    while (length > 1 && countTokens(word.slice(start, end)) > maxTokens) {
      length = Math.ceil(length / 2);
      [end] = advance(word, start, length);
    }
    pieces.push(word.slice(start, end));
    start = end;
  }
  return pieces;
}

/**
 * `text` cut into pieces of at most `maxTokens` tokens: by sentence, and by
 * word (or CJK character) for a sentence longer than that. Pieces never cut a
 * character.
 */
export function splitToBudget(text: string, maxTokens: number): { text: string; tokens: number }[] {
  const out: { text: string; tokens: number }[] = [];
  let current = '';
  let currentTokens = 0;
  const push = (): void => {
    if (current.trim() !== '') out.push({ text: current.trim(), tokens: countTokens(current.trim()) });
    current = '';
    currentTokens = 0;
  };
  const add = (piece: string, tokens: number): void => {
    if (currentTokens + tokens > maxTokens) push();
    current += piece;
    currentTokens += tokens;
  };
  for (const sentence of sentences(text)) {
    const tokens = tokensWithin(sentence, maxTokens);
    if (tokens !== undefined) add(sentence, tokens);
    else
      for (const word of words(sentence)) {
        const wordTokens = tokensWithin(word, maxTokens);
        if (wordTokens !== undefined) add(word, wordTokens);
        else for (const piece of hardSplit(word, maxTokens)) add(piece, countTokens(piece));
      }
  }
  push();
  return out;
}

/** The last sentences of `text` that fit in `maxTokens` (none if even the last one does not). */
export function tailSentences(text: string, maxTokens: number): { text: string; tokens: number } | undefined {
  const all = sentences(text);
  let taken = '';
  let tokens = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    const s = all[i] ?? '';
    const t = countTokens(s);
    if (tokens + t > maxTokens) break;
    taken = s + taken;
    tokens += t;
  }
  return taken.trim() === '' ? undefined : { text: taken.trim(), tokens: countTokens(taken.trim()) };
}
