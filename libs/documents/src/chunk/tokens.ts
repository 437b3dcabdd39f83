// Token counts with cl100k_base (gpt-tokenizer, offline BPE): the encoding of
// OpenAI's text-embedding-3 models, and a fair proxy for the local model's
// tokenizer. Special-token text in a document ("<|endoftext|>") is ordinary
// text: every tiktoken-style encoder throws on it unless the disallowed set is
// emptied.
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';

const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** The number of cl100k_base tokens in `text`. */
export function countTokens(text: string): number {
  return encode(text, AS_TEXT).length;
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

/** A "word" longer than the budget (base64, a URL, a long CJK run): cut by code points. */
function hardSplit(word: string, maxTokens: number): string[] {
  const chars = Array.from(word);
  const pieces: string[] = [];
  let start = 0;
  while (start < chars.length) {
    let length = Math.min(maxTokens, chars.length - start);
    while (length > 1 && countTokens(chars.slice(start, start + length).join('')) > maxTokens) length = Math.ceil(length / 2);
    pieces.push(chars.slice(start, start + length).join(''));
    start += length;
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
    const tokens = countTokens(sentence);
    if (tokens <= maxTokens) add(sentence, tokens);
    else
      for (const word of words(sentence)) {
        const wordTokens = countTokens(word);
        if (wordTokens <= maxTokens) add(word, wordTokens);
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
