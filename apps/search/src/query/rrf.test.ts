import { describe, expect, it } from 'vitest';
import { fuseRrf, type RankedHit } from './rrf.ts';

const hits = (...ids: string[]): RankedHit[] => ids.map((id, i) => ({ id, score: 10 - i }));

describe('fuseRrf', () => {
  it('scores Σ weight / (60 + rank) and keeps each list’s rank and score', () => {
    const fused = fuseRrf([
      { name: 'vector', weight: 1, hits: hits('a', 'b', 'c') },
      { name: 'keyword', weight: 1, hits: hits('c', 'a') },
    ]);
    expect(fused.map((h) => h.id)).toEqual(['a', 'c', 'b']);
    expect(fused[0]!.score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(fused[2]!.score).toBeCloseTo(1 / 62, 12);
    expect(fused[0]!.lists).toEqual({ vector: { rank: 1, score: 10 }, keyword: { rank: 2, score: 9 } });
    expect(fused[2]!.lists).toEqual({ vector: { rank: 2, score: 9 } });
  });

  it('weights shift the order: a keyword-only hit beats a vector-only one of the same rank when keyword weighs more', () => {
    const lists = (vector: number, keyword: number) => [
      { name: 'vector' as const, weight: vector, hits: hits('v') },
      { name: 'keyword' as const, weight: keyword, hits: hits('k') },
    ];
    expect(fuseRrf(lists(1, 2)).map((h) => h.id)).toEqual(['k', 'v']);
    expect(fuseRrf(lists(2, 1)).map((h) => h.id)).toEqual(['v', 'k']);
    const [top] = fuseRrf(lists(0.25, 3));
    expect(top!.score).toBeCloseTo(3 / 61, 12);
  });

  it('a list of weight 0 adds nothing but still reports where the hit stood', () => {
    const fused = fuseRrf([
      { name: 'vector', weight: 0, hits: hits('a', 'b') },
      { name: 'keyword', weight: 1, hits: hits('b') },
    ]);
    expect(fused.map((h) => [h.id, h.score])).toEqual([
      ['b', 1 / 61],
      ['a', 0],
    ]);
    expect(fused[0]!.lists.vector).toEqual({ rank: 2, score: 9 });
  });

  it('breaks ties by best rank, then by id, whatever the order of the lists', () => {
    const a = fuseRrf([
      { name: 'vector', weight: 1, hits: hits('p', 'q') },
      { name: 'keyword', weight: 1, hits: hits('q', 'p') },
    ]);
    const b = fuseRrf([
      { name: 'keyword', weight: 1, hits: hits('q', 'p') },
      { name: 'vector', weight: 1, hits: hits('p', 'q') },
    ]);
    expect(a.map((h) => h.id)).toEqual(['p', 'q']);
    expect(b.map((h) => h.id)).toEqual(['p', 'q']);
    expect(a[0]!.score).toBe(a[1]!.score);
    // Same score (1/(1+1) = 2/(1+3)), different best rank: the better best rank wins, in either list order.
    const tie = [
      { name: 'vector' as const, weight: 1, hits: hits('z') },
      { name: 'keyword' as const, weight: 2, hits: hits('k1', 'k2', 'a') },
    ];
    for (const lists of [tie, [...tie].reverse()]) {
      const c = fuseRrf(lists, 1);
      expect(c.find((h) => h.id === 'z')!.score).toBe(c.find((h) => h.id === 'a')!.score);
      expect(c.map((h) => h.id)).toEqual(['k1', 'k2', 'z', 'a']);
    }
  });

  it('counts a duplicate id once, at its best place, and the next hit takes the following rank', () => {
    const fused = fuseRrf([{ name: 'vector', weight: 1, hits: [{ id: 'a', score: 0.9 }, { id: 'a', score: 0.8 }, { id: 'b', score: 0.7 }] }]);
    expect(fused).toEqual([
      { id: 'a', score: 1 / 61, lists: { vector: { rank: 1, score: 0.9 } } },
      { id: 'b', score: 1 / 62, lists: { vector: { rank: 2, score: 0.7 } } },
    ]);
  });

  it('handles empty lists and refuses nonsense parameters', () => {
    expect(fuseRrf([{ name: 'vector', weight: 1, hits: [] }])).toEqual([]);
    expect(() => fuseRrf([], 0)).toThrow(RangeError);
    expect(() => fuseRrf([{ name: 'vector', weight: -1, hits: [] }])).toThrow(/weight of vector/);
    expect(() => fuseRrf([{ name: 'vector', weight: Number.NaN, hits: [] }])).toThrow(RangeError);
  });

  it('uses another k when given', () => {
    const [top] = fuseRrf([{ name: 'keyword', weight: 1, hits: hits('a') }], 1);
    expect(top!.score).toBe(0.5);
  });
});
