// A 10,000-chunk document through NATS (1 MiB payload limit) and the version
// swap seen by a concurrent reader: every statement sees one whole version.
import { randomUUID } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { waitFor } from '@csda/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, startHarness, statsDrift, type SearchHarness } from './support/harness.ts';
import { MAX_BATCH_BYTES } from './support/publisher.ts';

const CHUNKS = 10_000;
// ~900 characters per chunk, two passages each: ~10 MB per version. The vectors have 8 dimensions, which no HNSW
// index covers: what is under test is the batching and the swap; HNSW build cost is the benchmark's business
// (every other index test writes 512-d vectors through the HNSW index).
const DIMS = 8;
const TEXT = 'Measurements of the photon polarisation were repeated across the detector array and compared with the model. '.repeat(8);
const access = { ownerId: 'user-bob', isPublic: true, tags: ['big'], title: 'A very long report', accessSeq: 1 };

describe('search index: a 10,000-chunk document and an atomic version swap', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_swap');
    await h.start({ SEARCH_INDEX_CONCURRENCY: '4' });
  }, 120_000);
  afterAll(async () => h?.close());

  it('indexes 10,000 chunks in batches under 256 KiB, then swaps to a new version while a reader never sees a mix or a part', async () => {
    const doc = randomUUID();
    const v1 = await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: CHUNKS, access, dims: DIMS, passages: 2, words: `alpha ${TEXT}` }));
    const sizes = v1.map((b) => toBinary(IndexChunksBatchSchema, b).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(8 * 1024 * 1024);
    expect(v1.length).toBeGreaterThan(32); // the version could never travel as one NATS message
    await h.waitLive(doc, 1, 300_000);

    const reader = new pg.Client({ connectionString: h.db.url });
    await reader.connect();
    const seen: string[] = [];
    let reading = true;
    const reads = (async () => {
      while (reading) {
        const { rows } = await reader.query<{ chunks: number; passages: number; versions: number[]; alpha: number }>(
          `select (select count(*)::int from search.chunks where document_id = $1 and live) as chunks,
                  (select count(*)::int from search.passages where document_id = $1 and live) as passages,
                  (select array_agg(distinct version order by version) from search.chunks where document_id = $1 and live) as versions,
                  (select count(*)::int from search.chunks where document_id = $1 and live and tsv @@ to_tsquery('english', 'alpha')) as alpha`,
          [doc],
        );
        const r = rows[0]!;
        await new Promise((resolve) => setTimeout(resolve, 25));
        seen.push(`${r.chunks}/${r.passages}/v${(r.versions ?? []).join('+')}/alpha=${r.alpha}`);
      }
    })();
    try {
      await waitFor(() => seen.length > 0, { what: 'first read' });
      await h.publisher.publishVersion(makeVersion(doc, 2, { chunks: CHUNKS, access, dims: DIMS, passages: 2, words: `beta ${TEXT}` }));
      await h.waitLive(doc, 2, 300_000);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      reading = false;
      await reads;
      await reader.end();
    }
    const kinds = [...new Set(seen)];
    expect(kinds).toEqual([`${CHUNKS}/${2 * CHUNKS}/v1/alpha=${CHUNKS}`, `${CHUNKS}/${2 * CHUNKS}/v2/alpha=0`]);
    expect(seen.length).toBeGreaterThan(10);

    expect((await h.sql<{ n: number }>('select count(*)::int as n from search.chunks where document_id = $1', [doc]))[0]?.n).toBe(CHUNKS);
    await waitFor(async () => (await h.indexed()).filter((e) => e.documentId === doc).length === 2, { what: 'two DocumentIndexed' });
    expect((await h.indexed()).filter((e) => e.documentId === doc).map((e) => [e.version, e.chunkCount])).toEqual([
      [1, CHUNKS],
      [2, CHUNKS],
    ]);
    const drift = await statsDrift(h);
    expect(drift.termsDiffer).toEqual([]);
    expect(drift.kept).toEqual({ docs: String(CHUNKS), length: drift.actual && (drift.actual as { length: string }).length });
  }, 600_000);
});
