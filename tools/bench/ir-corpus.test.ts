import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateRuns, loadIrCollection, ndcgAt, recallAt } from './ir-corpus.ts';

describe('IR measures', () => {
  const relevant = new Map([
    ['a', 1],
    ['b', 1],
  ]);

  it('nDCG@10 is 1 for an ideal ranking, lower when relevant docs come later, 0 without them', () => {
    expect(ndcgAt(['a', 'b', 'x'], relevant)).toBeCloseTo(1, 10);
    expect(ndcgAt(['x', 'a', 'b'], relevant)).toBeCloseTo((1 / Math.log2(3) + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3)), 10);
    expect(ndcgAt(['x', 'y'], relevant)).toBe(0);
    expect(ndcgAt([...Array.from({ length: 10 }, (_, i) => `x${i}`), 'a'], relevant)).toBe(0); // rank 11 is outside @10
  });

  it('recall@k counts the relevant docs found in the first k', () => {
    expect(recallAt(['a', 'x', 'b'], relevant, 2)).toBe(0.5);
    expect(recallAt(['b', 'a'], relevant)).toBe(1);
  });

  it('loads a BEIR-layout collection and averages over its judged queries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ir-'));
    mkdirSync(join(dir, 'train'));
    writeFileSync(join(dir, 'corpus.jsonl'), '{"id": "1", "title": "T1", "text": "one"}\n{"id": "2", "title": "T2", "text": "two"}\n');
    writeFileSync(join(dir, 'queries.jsonl'), '{"id": "q1", "text": "first"}\n{"id": "q9", "text": "unjudged"}\n');
    writeFileSync(join(dir, 'qrels.tsv'), 'query-id\tdoc-id\tscore\nq1\t2\t1\n');
    const collection = loadIrCollection('test', dir)!;
    expect(collection.docs.map((d) => d.id)).toEqual(['1', '2']);
    expect(collection.queries.map((q) => q.id)).toEqual(['q1']);
    expect(evaluateRuns(new Map([['q1', ['1', '2']]]), collection.qrels)).toMatchObject({ queries: 1, recall100: 1, ndcg10: 1 / Math.log2(3) });
    expect(loadIrCollection('train', dir)).toBeUndefined();
  });
});
