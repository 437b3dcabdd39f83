import { describe, expect, it } from 'vitest';
import { BUDGET_SCALE_MAX, essentialTerms, idf, maxScoreBound, pairedEssentials, roundBudget } from './keyword.query.ts';
import { memo } from './query-plans.ts';
import { PASSAGES_PER_CHUNK_MAX, PASSAGES_PER_CHUNK_MIN, passagesPerChunk } from './vector.query.ts';

describe('memo', () => {
  it('reuses a value for ttl, per key, and reloads after', async () => {
    let now = 0;
    let loads = 0;
    const m = memo<number>(1_000, 10, () => now);
    const load = async () => ++loads;
    expect(await m('a', load)).toBe(1);
    expect(await m('a', load)).toBe(1);
    expect(await m('b', load)).toBe(2);
    now = 1_000;
    expect(await m('a', load)).toBe(3);
  });

  it('does not remember a failed load, and evicts the oldest key beyond maxEntries', async () => {
    const m = memo<number>(60_000, 2, () => 0);
    await expect(m('x', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await m('x', async () => 7)).toBe(7);
    await m('y', async () => 8);
    await m('z', async () => 9);
    expect(await m('x', async () => 10)).toBe(10);
  });

  it('ttl 0 reads every time', async () => {
    let loads = 0;
    const m = memo<number>(0, 10, () => 5);
    await m('k', async () => ++loads);
    await m('k', async () => ++loads);
    expect(loads).toBe(2);
  });
});

describe('essentialTerms', () => {
  const terms = [
    { lexeme: 'scurvi', df: 10, idf: idf(1_000, 10) },
    { lexeme: 'vitamin', df: 100, idf: idf(1_000, 100) },
    { lexeme: 'caus', df: 600, idf: idf(1_000, 600) },
  ];

  it('takes the rarest terms while their document frequencies fit the budget, at least one more each round', () => {
    expect(essentialTerms(terms, 5, 0)).toBe(1);
    expect(essentialTerms(terms, 110, 0)).toBe(2);
    expect(essentialTerms(terms, 110, 2)).toBe(3);
    expect(essentialTerms(terms, 10_000, 0)).toBe(3);
  });

  it('bounds what a chunk without them can score: Σ idf · (k1 + 1) of the rest', () => {
    expect(maxScoreBound(terms, 1, 1.2)).toBeCloseTo((terms[1]!.idf + terms[2]!.idf) * 2.2, 12);
    expect(maxScoreBound(terms, 3, 1.2)).toBe(0);
  });

  it('narrows each term past the budget to its chunks holding another query term, the rarer ones whole', () => {
    expect(pairedEssentials(terms.slice(0, 2), terms, 100)).toBeUndefined();
    expect(pairedEssentials(terms.slice(0, 1), terms.slice(0, 1), 5)).toBeUndefined();
    expect(pairedEssentials(terms.slice(0, 1), terms, 5)).toBe("('scurvi' & ('vitamin' | 'caus'))");
    expect(pairedEssentials(terms, terms, 50)).toBe("'scurvi' | ('vitamin' & ('scurvi' | 'caus')) | ('caus' & ('scurvi' | 'vitamin'))");
    const quoted = [{ lexeme: "o'neil", df: 9, idf: 1 }, { lexeme: 'a\\b', df: 9, idf: 1 }];
    expect(pairedEssentials(quoted, quoted, 1)).toBe("('o''neil' & ('a\\\\b')) | ('a\\\\b' & ('o''neil'))");
  });

  it("sizes the first round by the caller's share of the index: ÷ share, at most ×BUDGET_SCALE_MAX, never below the budget", () => {
    expect(roundBudget(1_000, 100_000, 100_000)).toBe(1_000);
    expect(roundBudget(1_000, 100_000, 80_000)).toBe(1_250);
    expect(roundBudget(1_000, 100_000, 10_000)).toBe(1_000 * BUDGET_SCALE_MAX);
    expect(roundBudget(1_000, 100_000, 0)).toBe(1_000 * BUDGET_SCALE_MAX);
    // A count larger than the index (read a moment apart) or none known: unscaled.
    expect(roundBudget(1_000, 100_000, 120_000)).toBe(1_000);
    expect(roundBudget(1_000, 100_000, undefined)).toBe(1_000);
    expect(roundBudget(1_000, 0, 5)).toBe(1_000);
  });

  it('idf is never negative, even for a term in every chunk', () => {
    expect(idf(1_000, 1_000)).toBeGreaterThan(0);
    expect(idf(1_000, 1)).toBeGreaterThan(idf(1_000, 10));
  });
});

describe('passagesPerChunk', () => {
  it('fetches as many passages per chunk wanted as the visible chunks hold on average, rounded up, within MIN…MAX', () => {
    expect(passagesPerChunk({ chunks: 1_000, passages: 1_000 })).toBe(PASSAGES_PER_CHUNK_MIN);
    expect(passagesPerChunk({ chunks: 1_000, passages: 2_000 })).toBe(2);
    expect(passagesPerChunk({ chunks: 1_000, passages: 2_001 })).toBe(3);
    expect(passagesPerChunk({ chunks: 5_183, passages: 33_322 })).toBe(PASSAGES_PER_CHUNK_MAX);
  });

  it('nothing known (no chunks of that dimension, counts not kept yet): the most', () => {
    expect(passagesPerChunk(undefined)).toBe(PASSAGES_PER_CHUNK_MAX);
    expect(passagesPerChunk({ chunks: 0, passages: 0 })).toBe(PASSAGES_PER_CHUNK_MAX);
    expect(passagesPerChunk({ chunks: 40, passages: 0 })).toBe(PASSAGES_PER_CHUNK_MAX);
  });
});
