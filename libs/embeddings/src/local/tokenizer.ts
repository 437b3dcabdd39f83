/**
 * The SentencePiece-style tokenizer of Universal Sentence Encoder Lite: a
 * Viterbi segmentation over the model's 8,000-piece vocabulary. Re-written
 * from TensorFlow.js models' `universal-sentence-encoder/tokenizer`
 * (Copyright 2019 Google LLC, Apache-2.0) with the same scoring and tie
 * rules, so ids match the reference; it walks the trie from each position
 * instead of copying the rest of the input at every step (linear, not
 * quadratic, in the input length), and measures pieces in code points.
 */
const SEPARATOR = '\u2581';
const RESERVED_SYMBOLS = 6;
const UNKNOWN = 0;

export type Vocabulary = ReadonlyArray<readonly [string, number]>;

interface TrieNode {
  children: Map<string, TrieNode>;
  /** Vocabulary index of the piece ending here, or -1. */
  id: number;
}

export class Tokenizer {
  readonly #root: TrieNode = { children: new Map(), id: -1 };
  readonly #scores: Float64Array;
  readonly #lengths: Int32Array;

  constructor(vocabulary: Vocabulary) {
    this.#scores = new Float64Array(vocabulary.length);
    this.#lengths = new Int32Array(vocabulary.length);
    this.#lengths[UNKNOWN] = 1;
    for (let id = RESERVED_SYMBOLS; id < vocabulary.length; id++) {
      const [piece, score] = vocabulary[id]!;
      const symbols = [...piece];
      this.#scores[id] = score;
      this.#lengths[id] = symbols.length;
      let node = this.#root;
      for (const symbol of symbols) {
        let next = node.children.get(symbol);
        if (!next) node.children.set(symbol, (next = { children: new Map(), id: -1 }));
        node = next;
      }
      node.id = id;
    }
  }

  /** Token ids of `text` (unknown characters → 0, runs of them merged), at most `maxTokens`. */
  encode(text: string, maxTokens = Number.POSITIVE_INFINITY): number[] {
    const normalised = text.normalize('NFKC');
    if (normalised.length === 0) return [];
    const symbols = [...(SEPARATOR + normalised.replace(/ /g, SEPARATOR))];
    const n = symbols.length;
    // best[e]: best score of a segmentation of symbols[0, e); 0 means "not reached yet", as in the reference.
    const best = new Float64Array(n + 1);
    const chosen = new Int32Array(n + 1);
    // Pieces are visited by end position, then by start ascending (the reference's object-key order), so later
    // starts win ties. Collect the pieces ending at each position first.
    const ending: number[][] = Array.from({ length: n + 1 }, () => []);
    for (let start = 0; start < n; start++) {
      let node = this.#root.children.get(symbols[start]!);
      let found = false;
      for (let end = start + 1; node; end++) {
        if (node.id >= 0) {
          ending[end]!.push(start, node.id);
          found = true;
        }
        if (end >= n) break;
        node = node.children.get(symbols[end]!);
      }
      if (!found) ending[start + 1]!.push(start, UNKNOWN);
    }
    for (let end = 1; end <= n; end++) {
      const list = ending[end]!;
      // Sort by start ascending (pairs were pushed in start order already, since starts grow monotonically).
      for (let k = 0; k < list.length; k += 2) {
        const start = list[k]!;
        const id = list[k + 1]!;
        const score = this.#scores[id]! + best[start]!;
        if (best[end] === 0 || score >= best[end]!) {
          best[end] = score;
          chosen[end] = id;
        }
      }
    }
    const reversed: number[] = [];
    for (let at = n; at > 0; at -= this.#lengths[chosen[at]!]!) reversed.push(chosen[at]!);
    const ids: number[] = [];
    let previousUnknown = false;
    for (let k = reversed.length - 1; k >= 0; k--) {
      const id = reversed[k]!;
      if (!(previousUnknown && id === UNKNOWN)) ids.push(id);
      previousUnknown = id === UNKNOWN;
      if (ids.length >= maxTokens) break;
    }
    return ids;
  }
}
