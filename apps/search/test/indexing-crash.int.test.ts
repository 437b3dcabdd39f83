// A replica killed with SIGKILL while it writes a document version: its
// uncommitted work is rolled back, its unacknowledged batches come back to
// another replica after the ack wait, and the version completes exactly once.
import { randomUUID } from 'node:crypto';
import { waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, startHarness, statsDrift, type SearchHarness } from './support/harness.ts';

describe('search index: a replica killed mid-version', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_crash', { SEARCH_INDEX_ACK_WAIT_S: '5' });
  }, 120_000);
  afterAll(async () => h?.close());

  it('another replica finishes the version from the redelivered batches; announced once, statistics exact', async () => {
    const doc = randomUUID();
    const first = await h.start({ SEARCH_INDEX_CONCURRENCY: '2' });
    const text = 'Neutrino oscillation parameters were fitted to the combined reactor and accelerator samples. '.repeat(6);
    const published = await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 3_000, dims: 8, passages: 2, access: { ownerId: 'user-kim', accessSeq: 1 }, words: text }));
    expect(published.length).toBeGreaterThan(5);
    await waitFor(async () => ((await h.sql<{ n: number }>('select count(*)::int as n from search.version_batches where document_id = $1', [doc]))[0]?.n ?? 0) >= 3, {
      what: 'a few batches staged',
      intervalMs: 20,
    });
    first.process.kill('SIGKILL');
    await new Promise((resolve) => first.process.once('exit', resolve));
    const staged = (await h.sql<{ n: number }>('select count(*)::int as n from search.version_batches where document_id = $1', [doc]))[0]?.n ?? 0;
    expect(staged).toBeLessThan(published.length);
    expect((await h.sql<{ v: number | null }>('select live_version as v from search.documents where document_id = $1', [doc]))[0]?.v ?? null).toBeNull();

    await h.start();
    await h.waitLive(doc, 1, 120_000);
    const [rows] = await h.sql<{ chunks: number; passages: number; distinct: number }>(
      `select (select count(*)::int from search.chunks where document_id = $1 and live) as chunks,
              (select count(*)::int from search.passages where document_id = $1 and live) as passages,
              (select count(distinct chunk_index)::int from search.chunks where document_id = $1) as distinct`,
      [doc],
    );
    expect(rows).toEqual({ chunks: 3_000, passages: 6_000, distinct: 3_000 });
    await waitFor(async () => (await h.indexed()).some((e) => e.documentId === doc), { what: 'DocumentIndexed' });
    await h.waitDrained();
    // The killed replica's unacknowledged batches were delivered again (deliveries > messages).
    const consumer = await h.nats.jsm.consumers.info(h.nats.subjects.stream('JOBS_SEARCH'), 'search-index-jobs');
    expect(consumer.delivered.consumer_seq).toBeGreaterThan(published.length);
    expect((await h.indexed()).filter((e) => e.documentId === doc).map((e) => e.chunkCount)).toEqual([3_000]);
    const drift = await statsDrift(h);
    expect(drift.termsDiffer).toEqual([]);
    expect(drift.kept).toEqual(drift.actual);
    expect(await h.deadLetters('search-index-jobs')).toEqual([]);
  }, 240_000);
});
