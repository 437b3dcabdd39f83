/**
 * Sentence groups for per-passage vectors: a chunk gets one vector per
 * passage and scores by its best passage (USE Lite loses relevance on long
 * inputs and keeps it on a sentence or two).
 *
 * Sentences come from `Intl.Segmenter` (ICU's sentence rules, built into
 * Node). ICU without its abbreviation suppressions breaks after "Fig. 3B",
 * "Dr. Smith", "vs. E. coli", "et al. (2001)": a break after a known
 * abbreviation or an initial, or before a lower-case letter, is undone here.
 */
export interface Passage {
  readonly text: string;
  /** UTF-16 offsets into the input: `input.slice(start, end) === text`. */
  readonly start: number;
  readonly end: number;
}

export interface SplitOptions {
  /** Upper bound of a passage, in approximate tokens (words, numbers and punctuation marks). Default 64. */
  readonly maxTokens?: number;
  /** Sentences per passage at most (1 = one sentence each, long ones still cut at maxTokens). Default unlimited. */
  readonly maxSentences?: number;
  /** Segmenter locale. Default "en". */
  readonly locale?: string;
}

export const DEFAULT_PASSAGE_TOKENS = 64;

const ABBREVIATION =
  /(?:^|[\s([{"'“‘/-])(?:e\.g|i\.e|et al|etc|vs|cf|viz|approx|ca|resp|fig|figs|eq|eqs|ref|refs|no|nos|vol|vols|pp|p|ed|eds|dr|mr|mrs|ms|prof|st|sr|jr|inc|ltd|co|corp|dept|univ|sec|ch|chap|art|al|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|[a-z])\.$/i;
const TOKEN = /[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]/gu;

interface Span {
  start: number;
  end: number;
  tokens: number;
  /** A blank line separates this span from the previous one. */
  paragraph: boolean;
}

/** Approximate token count of `text` (words, numbers and punctuation marks). */
export function countTokens(text: string): number {
  let n = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) n++;
  return n;
}

/** Splits `text` into passages of whole sentences, each at most `maxTokens` (long sentences are cut at word boundaries). */
export function splitPassages(text: string, options: SplitOptions = {}): Passage[] {
  const maxTokens = options.maxTokens ?? DEFAULT_PASSAGE_TOKENS;
  const maxSentences = options.maxSentences ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError('splitPassages: maxTokens must be a positive integer');
  if (maxSentences !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxSentences) || maxSentences < 1)) {
    throw new RangeError('splitPassages: maxSentences must be a positive integer');
  }
  const spans = sentences(text, options.locale ?? 'en').flatMap((span) => cut(text, span, maxTokens));
  const passages: Passage[] = [];
  let group: Span | undefined;
  let count = 0;
  for (const span of spans) {
    if (group && !span.paragraph && count < maxSentences && group.tokens + span.tokens <= maxTokens) {
      group.end = span.end;
      group.tokens += span.tokens;
      count++;
      continue;
    }
    if (group) passages.push(toPassage(text, group));
    group = { ...span };
    count = 1;
  }
  if (group) passages.push(toPassage(text, group));
  return passages;
}

function toPassage(text: string, span: Span): Passage {
  return { text: text.slice(span.start, span.end), start: span.start, end: span.end };
}

/** Trimmed sentence spans, with ICU's breaks after abbreviations and before lower-case letters undone. */
function sentences(text: string, locale: string): Span[] {
  const spans: Span[] = [];
  for (const { segment, index } of new Intl.Segmenter(locale, { granularity: 'sentence' }).segment(text)) {
    const trimmed = segment.trim();
    if (trimmed.length === 0) continue;
    const start = index + segment.length - segment.trimStart().length;
    const end = start + trimmed.length;
    const previous = spans.at(-1);
    // A blank line between two sentences starts a paragraph; passages never cross one.
    const paragraph = previous !== undefined && /\n[^\S\n]*\n/.test(text.slice(previous.end, start));
    if (previous && !paragraph && (ABBREVIATION.test(text.slice(previous.start, previous.end)) || /^\p{Ll}/u.test(trimmed))) {
      previous.tokens += countTokens(text.slice(previous.end, end));
      previous.end = end;
    } else {
      spans.push({ start, end, tokens: countTokens(trimmed), paragraph });
    }
  }
  return spans;
}

/** Cuts a span longer than `maxTokens` into pieces of at most `maxTokens`, preferably where whitespace separates tokens. */
function cut(text: string, span: Span, maxTokens: number): Span[] {
  if (span.tokens <= maxTokens) return [span];
  const tokens = [...text.slice(span.start, span.end).matchAll(TOKEN)].map((m) => [span.start + m.index, span.start + m.index + m[0].length] as const);
  const spaceBefore = (k: number) => /\s/.test(text.slice(tokens[k - 1]![1], tokens[k]![0]));
  const pieces: Span[] = [];
  for (let i = 0; i < tokens.length; ) {
    let j = Math.min(i + maxTokens, tokens.length);
    if (j < tokens.length) {
      for (let k = j; k > i + maxTokens / 2; k--) {
        if (spaceBefore(k)) {
          j = k;
          break;
        }
      }
    }
    pieces.push({ start: tokens[i]![0], end: tokens[j - 1]![1], tokens: j - i, paragraph: i === 0 && span.paragraph });
    i = j;
  }
  return pieces;
}
