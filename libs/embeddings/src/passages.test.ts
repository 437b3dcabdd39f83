import { describe, expect, it } from 'vitest';
import { countTokens, splitPassages } from './passages.ts';

const text =
  'Cells were stained (e.g. with DAPI) as in Fig. 2 and Fig. 3B. Smith et al. reported 1.8 microm2/ms, p = 0.016. ' +
  'Dr. Jones disagreed, i.e. strongly! The U.S. data vs. E. coli strains were compared. Mr. Smith met Prof. Lee in Jan. 2020. ' +
  'Is it true? Yes.';

describe('splitPassages', () => {
  it('keeps abbreviations, initials and decimals inside their sentence', () => {
    expect(splitPassages(text, { maxSentences: 1 }).map((p) => p.text)).toEqual([
      'Cells were stained (e.g. with DAPI) as in Fig. 2 and Fig. 3B.',
      'Smith et al. reported 1.8 microm2/ms, p = 0.016.',
      'Dr. Jones disagreed, i.e. strongly!',
      'The U.S. data vs. E. coli strains were compared.',
      'Mr. Smith met Prof. Lee in Jan. 2020.',
      'Is it true?',
      'Yes.',
    ]);
  });

  it('returns offsets into the input, trimmed', () => {
    const input = `  ${text}\n\n`;
    const passages = splitPassages(input);
    expect(passages.length).toBeGreaterThan(0);
    for (const p of passages) {
      expect(input.slice(p.start, p.end)).toBe(p.text);
      expect(p.text).toBe(p.text.trim());
    }
    expect(passages[0]!.start).toBe(2);
  });

  it('groups whole sentences up to maxTokens', () => {
    const passages = splitPassages(text, { maxTokens: 30 });
    expect(passages.map((p) => p.text)).toEqual([
      'Cells were stained (e.g. with DAPI) as in Fig. 2 and Fig. 3B.',
      'Smith et al. reported 1.8 microm2/ms, p = 0.016. Dr. Jones disagreed, i.e. strongly!',
      'The U.S. data vs. E. coli strains were compared. Mr. Smith met Prof. Lee in Jan. 2020.',
      'Is it true? Yes.',
    ]);
    for (const p of passages) expect(countTokens(p.text)).toBeLessThanOrEqual(30);
    expect(splitPassages(text, { maxTokens: 1000 })).toHaveLength(1);
  });

  it('never groups across a blank line', () => {
    const passages = splitPassages('First paragraph ends here.\n\nSecond one starts. It goes on.');
    expect(passages.map((p) => p.text)).toEqual(['First paragraph ends here.', 'Second one starts. It goes on.']);
  });

  it('cuts a sentence longer than maxTokens at whitespace', () => {
    const words = Array.from({ length: 150 }, (_, i) => `w${i}`).join(' ');
    const passages = splitPassages(words, { maxTokens: 64 });
    expect(passages.map((p) => countTokens(p.text))).toEqual([64, 64, 22]);
    expect(passages.map((p) => p.text).join(' ')).toBe(words);
    const glued = splitPassages('a-b-c-d-e-f-g-h', { maxTokens: 4 });
    for (const p of glued) expect(countTokens(p.text)).toBeLessThanOrEqual(4);
    expect(glued.map((p) => p.text).join('')).toBe('a-b-c-d-e-f-g-h');
  });

  it('handles empty, blank, unpunctuated and hostile input in bounded time', () => {
    expect(splitPassages('')).toEqual([]);
    expect(splitPassages(' \n\t ')).toEqual([]);
    expect(splitPassages('no punctuation at all')).toEqual([{ text: 'no punctuation at all', start: 0, end: 21 }]);
    const started = performance.now();
    expect(splitPassages('a. '.repeat(50_000)).length).toBeGreaterThan(100);
    expect(splitPassages('word '.repeat(100_000)).length).toBe(Math.ceil(100_000 / 64));
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('refuses a maxTokens or maxSentences that is not a positive integer', () => {
    expect(() => splitPassages(text, { maxTokens: 0 })).toThrow(/maxTokens/);
    expect(() => splitPassages(text, { maxSentences: 1.5 })).toThrow(/maxSentences/);
  });
});
