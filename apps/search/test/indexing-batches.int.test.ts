// Chunk batches (JOBS_SEARCH) into a real search process on the machine's
// PostgreSQL + pgvector and NATS: out of order, duplicated, redelivered after
// a failure, older versions after newer ones.
import { randomUUID } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, MODEL, startHarness, statsDrift, type SearchHarness } from './support/harness.ts';
import { splitIntoBatches } from './support/publisher.ts';

const alice = { ownerId: 'user-alice', sharedRoles: ['ANALYST'], tags: ['physics'], title: 'Photon study', accessSeq: 1 };

describe('search index: chunk batches', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_batches');
    await h.start();
  }, 120_000);
  afterAll(async () => h?.close());

  const live = async (doc: string) =>
    (await h.sql<{ chunks: number; passages: number; versions: number[] }>(
      `select (select count(*)::int from search.chunks where document_id = $1 and live) as chunks,
              (select count(*)::int from search.passages where document_id = $1 and live) as passages,
              (select coalesce(array_agg(distinct version order by version), '{}') from search.chunks where document_id = $1) as versions`,
      [doc],
    ))[0]!;
  const indexedFor = async (doc: string) => (await h.indexed()).filter((e) => e.documentId === doc);
  /** The same batch again under another Nats-Msg-Id: what a redelivery past the stream's de-duplication looks like. */
  const again = (batch: ReturnType<typeof splitIntoBatches>[number], tag: string) => h.publisher.publishRaw('index', toBinary(IndexChunksBatchSchema, batch), `${batch.eventId}:${tag}`);

  it('stages out-of-order and duplicated batches without showing any; the last one makes the whole version live, announced once', async () => {
    const doc = randomUUID();
    const batches = splitIntoBatches(makeVersion(doc, 1, { chunks: 60, passages: 2, access: alice }), 16 * 1024);
    expect(batches.length).toBeGreaterThan(5);
    const [first, ...rest] = batches;
    for (const batch of rest.reverse()) {
      await h.publisher.publishBatch(batch);
      await again(batch, 'dup');
    }
    await waitFor(async () => (await h.sql<{ n: number }>('select count(*)::int as n from search.version_batches where document_id = $1', [doc]))[0]?.n === rest.length, { what: 'batches staged' });
    await h.waitDrained();
    const staged = rest.reduce((n, b) => n + b.chunks.length, 0);
    expect(await live(doc)).toEqual({ chunks: 0, passages: 0, versions: [1] });
    expect((await h.sql<{ n: number }>('select count(*)::int as n from search.chunks where document_id = $1 and not live', [doc]))[0]?.n).toBe(staged);
    expect(await indexedFor(doc)).toEqual([]);

    await h.publisher.publishBatch(first!);
    await h.waitLive(doc, 1);
    expect(await live(doc)).toEqual({ chunks: 60, passages: 120, versions: [1] });
    const indexes = await h.sql<{ i: number }>('select chunk_index as i from search.chunks where document_id = $1 order by 1', [doc]);
    expect(indexes.map((r) => r.i)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const [row] = await h.sql('select live_version, chunk_count, passage_count, model, dims, owner_id, title, access_seq::int from search.documents where document_id = $1', [doc]);
    expect(row).toEqual({ live_version: 1, chunk_count: 60, passage_count: 120, model: MODEL, dims: 512, owner_id: 'user-alice', title: 'Photon study', access_seq: 1 });
    const facts = await h.sql('select distinct owner_id, is_public, shared_roles, tags, title from search.chunks where document_id = $1', [doc]);
    expect(facts).toEqual([{ owner_id: 'user-alice', is_public: false, shared_roles: ['ANALYST'], tags: ['physics'], title: 'Photon study' }]);
    expect(await h.sql('select * from search.version_batches where document_id = $1', [doc])).toEqual([]);
    await waitFor(async () => (await indexedFor(doc)).length > 0, { what: 'DocumentIndexed' });
    expect((await indexedFor(doc)).map((e) => ({ id: e.eventId, version: e.version, chunks: e.chunkCount, model: e.model, dims: e.dimensions }))).toEqual([
      { id: `indexed:${doc}:1`, version: 1, chunks: 60, model: MODEL, dims: 512 },
    ]);

    // Every batch once more after the swap: nothing changes, nothing is announced again.
    for (const batch of batches) await again(batch, 'late');
    await h.waitDrained();
    expect(await live(doc)).toEqual({ chunks: 60, passages: 120, versions: [1] });
    await new Promise((r) => setTimeout(r, 500));
    expect(await indexedFor(doc)).toHaveLength(1);
    expect(await statsDrift(h)).toMatchObject({ termsDiffer: [] });
    const drift = await statsDrift(h);
    expect(drift.kept).toEqual(drift.actual);
  });

  it('a newer version replaces the live one whole; an older version arriving after it is dropped', async () => {
    const doc = randomUUID();
    await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 12, access: alice, words: 'first edition' }));
    await h.waitLive(doc, 1);
    await h.publisher.publishVersion(makeVersion(doc, 3, { chunks: 7, access: alice, words: 'third edition' }));
    await h.waitLive(doc, 3);
    expect(await live(doc)).toEqual({ chunks: 7, passages: 7, versions: [3] });
    await h.publisher.publishVersion(makeVersion(doc, 2, { chunks: 30, access: alice, words: 'second edition' }), { maxBytes: 8 * 1024 });
    await h.waitDrained();
    expect(await live(doc)).toEqual({ chunks: 7, passages: 7, versions: [3] });
    expect(h.logs()).toContain('batch of a version not newer than the live one dropped');
    await waitFor(async () => (await indexedFor(doc)).length === 2, { what: 'two DocumentIndexed' });
    expect((await indexedFor(doc)).map((e) => e.version)).toEqual([1, 3]);
    const drift = await statsDrift(h);
    expect(drift.termsDiffer).toEqual([]);
    expect(drift.kept).toEqual(drift.actual);
  });

  it('a batch whose swap fails on the database is redelivered after the back-off and then completes its version', async () => {
    const doc = randomUUID();
    // The swap needs search.stats; staging does not: the batch stages, its swap fails, the message is nak'ed.
    await h.sql('alter table search.stats rename to stats_away');
    try {
      await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 3, access: alice }));
      await waitFor(() => h.logs().includes('message failed, will be redelivered'), { what: 'a failed delivery' });
      expect(await live(doc)).toMatchObject({ chunks: 0 });
      expect((await h.sql<{ n: number }>('select count(*)::int as n from search.version_batches where document_id = $1', [doc]))[0]?.n).toBe(1);
    } finally {
      await h.sql('alter table search.stats_away rename to stats');
    }
    // The redelivery finds its batch already staged (a duplicate) and still completes the version.
    await h.waitLive(doc, 1);
    expect(await live(doc)).toEqual({ chunks: 3, passages: 3, versions: [1] });
    await waitFor(async () => (await indexedFor(doc)).length === 1, { what: 'DocumentIndexed' });
    const drift = await statsDrift(h);
    expect(drift.kept).toEqual(drift.actual);
  });

  it('keeps hostile text exactly: quotes, backslashes, braces and SQL in titles, roles, tags and content', async () => {
    const doc = randomUUID();
    const nasty = `O'Brien "quoted" \\ back {brace}, comma; drop table search.chunks; -- ? $1`;
    const access = { ownerId: `owner ${nasty}`, sharedRoles: [`role "a", {b}`, 'r\\2'], tags: ['t,1', '{t2}', `t'3`], title: nasty, accessSeq: 1 };
    const version = makeVersion(doc, 1, { chunks: 2, access });
    await h.publisher.publishVersion({ ...version, chunks: version.chunks.map((c) => ({ ...c, content: `${nasty} body`, headingPath: [nasty, 'ok'] })) });
    await h.waitLive(doc, 1);
    const rows = await h.sql('select owner_id, shared_roles, tags, title, content, heading_path from search.chunks where document_id = $1', [doc]);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r).toEqual({ owner_id: access.ownerId, shared_roles: access.sharedRoles, tags: access.tags, title: nasty, content: `${nasty} body`, heading_path: [nasty, 'ok'] });
    const [passage] = await h.sql('select distinct owner_id, shared_roles, tags from search.passages where document_id = $1', [doc]);
    expect(passage).toEqual({ owner_id: access.ownerId, shared_roles: access.sharedRoles, tags: access.tags });
  });
});
