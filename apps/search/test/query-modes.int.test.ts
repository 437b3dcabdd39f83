import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unitVector } from './support/harness.ts';
import type { VersionInput } from './support/publisher.ts';
import { startQueryHarness, QUERY_MODEL, type QueryHarness } from './query-support/query-harness.ts';
import type { CorpusDoc } from './query-support/corpus.ts';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';

function doc(over: { owner?: string; isPublic?: boolean; title: string; chunks: { content: string; seeds: number[]; headingPath?: string[]; page?: number }[]; tags?: string[] }): CorpusDoc {
  const documentId = randomUUID();
  const access = { ownerId: over.owner ?? ALICE, isPublic: over.isPublic ?? false, sharedRoles: [], tags: over.tags ?? [], title: over.title, accessSeq: 1 };
  const version: VersionInput = {
    documentId,
    version: 1,
    model: QUERY_MODEL,
    dimensions: 512,
    access,
    chunks: over.chunks.map((c) => ({ content: c.content, headingPath: c.headingPath ?? [], pageStart: c.page ?? 0, pageEnd: c.page ?? 0, passages: c.seeds.map((s) => unitVector(s)) })),
  };
  return { documentId, access, version };
}

/** The three modes through the running service: scores as documented, hybrid's lists, highlights, filters. */
describe('search modes', () => {
  let h: QueryHarness;
  const scurvy = doc({
    title: 'Scurvy in sailors',
    tags: ['history'],
    chunks: [
      { content: 'Vitamin C deficiency causes scurvy. Sailors on long voyages <b>suffered</b> & died.', seeds: [101, 102, 103], headingPath: ['Causes'], page: 3 },
      { content: 'Citrus fruit prevented the disease on later voyages.', seeds: [201] },
      { content: 'Unrelated text about ship rigging and sails.', seeds: [301] },
    ],
  });
  const anemia = doc({ title: 'Anemia', owner: BOB, isPublic: true, chunks: [{ content: 'Iron deficiency causes anemia; vitamin C helps absorb iron.', seeds: [401] }] });

  beforeAll(async () => {
    h = await startQueryHarness('query_modes');
    await h.load([scurvy, anemia]);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('keyword: BM25 over the OR of the terms, exclusions kept, highlights as escaped HTML', async () => {
    const res = await h.search({ id: ALICE }, { query: 'scurvy deficiency', mode: 'keyword' });
    expect(res.mode).toBe('keyword');
    expect(res.degraded).toBe(false);
    expect(res.model).toBe('');
    const [first, second] = res.results;
    expect(first).toMatchObject({ documentId: scurvy.documentId, documentTitle: 'Scurvy in sailors', chunkIndex: 0, pageStart: 3, pageEnd: 3, headingPath: ['Causes'], documentVersion: 1 });
    expect(first!.keyword).toMatchObject({ rank: 1 });
    expect(first!.score).toBeGreaterThan(second!.score);
    expect(first!.score).toBe(first!.keyword!.score);
    expect(second!.documentId).toBe(anemia.documentId);
    expect(first!.highlights.join(' ')).toContain('<mark>scurvy</mark>');
    // ts_headline drops markup tags of the content; what remains is escaped.
    expect(first!.highlights.join(' ')).toContain('suffered  &amp; died');
    expect(first!.highlights.join(' ')).not.toMatch(/<(?!\/?mark>)/);

    const excluded = await h.search({ id: ALICE }, { query: 'deficiency -anemia', mode: 'keyword' });
    expect(excluded.results.map((r) => r.documentId)).toEqual([scurvy.documentId]);
    expect((await h.search({ id: ALICE }, { query: 'the of and', mode: 'keyword' })).results).toEqual([]);
  });

  it('vector: 1 − cosine distance of the best passage; a chunk appears once whichever passage matched', async () => {
    const res = await h.search({ id: ALICE }, { query: 'vec:103', mode: 'vector', topK: 4 });
    expect(res.mode).toBe('vector');
    expect(res.model).toBe(QUERY_MODEL);
    expect(res.results[0]).toMatchObject({ documentId: scurvy.documentId, chunkIndex: 0 });
    expect(res.results[0]!.score).toBeCloseTo(1, 5);
    expect(res.results[0]!.vector).toMatchObject({ rank: 1 });
    expect(res.results.map((r) => r.chunkId).length).toBe(new Set(res.results.map((r) => r.chunkId)).size);
    expect(res.results).toHaveLength(4);
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const second = res.results[1]!;
    const seeds: Record<string, number[]> = { '0': [101, 102, 103], '1': [201], '2': [301] };
    const expected = second.documentId === anemia.documentId ? cos(unitVector(103), unitVector(401)) : Math.max(...seeds[String(second.chunkIndex)]!.map((s) => cos(unitVector(103), unitVector(s))));
    expect(second.score).toBeCloseTo(expected, 4);
  });

  it('hybrid: RRF of both lists with each list’s rank and score behind the fused score', async () => {
    const res = await h.search({ id: ALICE }, { query: 'vec:201 citrus voyages' });
    expect(res.mode).toBe('hybrid');
    const top = res.results[0]!;
    expect(top).toMatchObject({ documentId: scurvy.documentId, chunkIndex: 1 });
    expect(top.vector?.rank).toBe(1);
    expect(top.keyword?.rank).toBe(1);
    expect(top.score).toBeCloseTo(2 / 61, 12);
    for (const r of res.results) {
      const expected = (r.vector ? 1 / (60 + r.vector.rank) : 0) + (r.keyword ? 1 / (60 + r.keyword.rank) : 0);
      expect(r.score).toBeCloseTo(expected, 12);
    }
    const weighted = await h.search({ id: ALICE }, { query: 'vec:201 citrus voyages', weights: { vector: 0.5, keyword: 2 } });
    expect(weighted.results[0]!.score).toBeCloseTo(0.5 / 61 + 2 / 61, 12);
  });

  it('min_score filters by the mode’s score; top_k bounds the list', async () => {
    const all = await h.search({ id: ALICE }, { query: 'vec:103', mode: 'vector', topK: 10 });
    expect(all.results.length).toBe(4);
    const close = await h.search({ id: ALICE }, { query: 'vec:103', mode: 'vector', minScore: 0.99 });
    expect(close.results.map((r) => r.chunkIndex)).toEqual([0]);
    const one = await h.search({ id: ALICE }, { query: 'deficiency', mode: 'keyword', topK: 1 });
    expect(one.results).toHaveLength(1);
    const high = await h.search({ id: ALICE }, { query: 'deficiency', mode: 'keyword', minScore: 1_000 });
    expect(high.results).toEqual([]);
  });

  it('filters: document ids and tags narrow, never widen', async () => {
    const byDoc = await h.search({ id: ALICE }, { query: 'deficiency', mode: 'keyword', filters: { documentIds: [anemia.documentId] } });
    expect(byDoc.results.map((r) => r.documentId)).toEqual([anemia.documentId]);
    const byTag = await h.search({ id: ALICE }, { query: 'deficiency', mode: 'keyword', filters: { tags: ['history'] } });
    expect(byTag.results.map((r) => r.documentId)).toEqual([scurvy.documentId]);
    // Bob may not see Alice's private document, filter or not.
    const bob = await h.search({ id: BOB }, { query: 'vec:103', mode: 'vector', filters: { documentIds: [scurvy.documentId] } });
    expect(bob.results).toEqual([]);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, and callers without search:query', async () => {
    const refused = async (req: Parameters<QueryHarness['search']>[1]) => {
      const err = await h.search({ id: ALICE }, req).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      return (err as ConnectError).rawMessage;
    };
    await refused({ query: '' });
    await refused({ query: 'q', mode: 'semantic' });
    await refused({ query: 'q', topK: 101 });
    await refused({ query: 'q', filters: { documentIds: ['nope'] } });
    const denied = await h.search({ id: ALICE, permissions: ['documents:read'] }, { query: 'q' }).catch((e: unknown) => e);
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
  });
});
