// Two replicas, many documents at once: interleaved batches of two versions
// each over a shared vocabulary, title changes and deletions in flight. Every
// document ends in the right state, nothing is dead-lettered, and the BM25
// statistics equal a recount (concurrent swaps lock terms in one order).
import { randomUUID } from 'node:crypto';
import { waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, startHarness, statsDrift, type SearchHarness } from './support/harness.ts';
import { splitIntoBatches } from './support/publisher.ts';

const VOCABULARY = ['protein', 'folding', 'kinase', 'receptor', 'binding', 'pathway', 'signal', 'membrane', 'enzyme', 'ligand', 'mutation', 'expression'];
/** Deterministic shuffle (Fisher–Yates over a seeded LCG). */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed;
  const next = () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

describe('search index: concurrent replicas and documents', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_concurrency');
    await Promise.all([h.start({ SEARCH_INDEX_CONCURRENCY: '4' }), h.start({ SEARCH_INDEX_CONCURRENCY: '4' })]);
  }, 120_000);
  afterAll(async () => h?.close());

  it('ends every document in its expected state with exact statistics and no dead letters', async () => {
    const docs: string[] = Array.from({ length: 16 }, () => randomUUID());
    const words = (i: number, v: number) => shuffle([...VOCABULARY], i * 7 + v).slice(0, 5).join(' ');
    const batches = docs.flatMap((doc, i) =>
      [1, 2].flatMap((v) => splitIntoBatches(makeVersion(doc, v, { chunks: 24, access: { ownerId: `user-${i}`, title: `Study ${i}`, accessSeq: 1 }, words: words(i, v) }), 6 * 1024)),
    );
    const order = shuffle(batches, 42);
    const publishing = (async () => {
      for (const b of order) await h.publisher.publishBatch(b);
    })();
    // Title changes and deletions while the batches are in flight.
    for (const [i, doc] of docs.entries()) {
      if (i % 4 === 1) await h.publisher.changeAccess(doc, { ownerId: `user-${i}`, title: `Revised ${VOCABULARY[i % VOCABULARY.length]} study`, accessSeq: 2 });
      if (i % 4 === 3) await h.publisher.deleteDocument(doc);
    }
    await publishing;
    await waitFor(
      async () => {
        const rows = await h.sql<{ n: number }>('select count(*)::int as n from search.documents where document_id = any($1::uuid[]) and (live_version = 2 or deleted_through is not null)', [docs]);
        return rows[0]?.n === docs.length;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: 'every document at v2 or deleted' },
    );
    await h.waitDrained('search-index-jobs', 'JOBS_SEARCH', 60_000);
    await h.waitDrained('search-document-events', 'EVENTS', 60_000);

    for (const [i, doc] of docs.entries()) {
      const [state] = await h.sql<{ live_version: number | null; title: string }>('select live_version, title from search.documents where document_id = $1', [doc]);
      const [rows] = await h.sql<{ live: number; all: number; titles: string[] }>(
        'select count(*) filter (where live)::int as live, count(*)::int as all, array_agg(distinct title) as titles from search.chunks where document_id = $1',
        [doc],
      );
      if (i % 4 === 3) {
        expect(state?.live_version, `doc ${i}`).toBeNull();
        expect(rows?.all, `doc ${i}`).toBe(0);
      } else {
        expect(state?.live_version, `doc ${i}`).toBe(2);
        expect(rows, `doc ${i}`).toMatchObject({ live: 24, all: 24 });
        expect(rows?.titles, `doc ${i}`).toEqual([i % 4 === 1 ? `Revised ${VOCABULARY[i % VOCABULARY.length]} study` : `Study ${i}`]);
      }
    }
    const drift = await statsDrift(h);
    expect(drift.termsDiffer).toEqual([]);
    expect(drift.kept).toEqual(drift.actual);
    expect(await h.deadLetters('search-index-jobs')).toEqual([]);
    expect(await h.deadLetters('search-document-events')).toEqual([]);
    // No handler failed on the way (a deadlock or serialization failure would show as a redelivery).
    expect(h.logs()).not.toContain('will be redelivered');
    const indexed = (await h.indexed()).filter((e) => docs.includes(e.documentId));
    // Each live version announced once (a v1 that completed before its v2 is announced too, never twice).
    const ids = indexed.map((e) => e.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, doc] of docs.entries()) if (i % 4 !== 3) expect(ids).toContain(`indexed:${doc}:2`);
  }, 300_000);
});
