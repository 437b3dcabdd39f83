// document.deleted and document.access_changed (EVENTS) against batches in
// flight: tombstones beat late batches, the newest access facts win in any
// arrival order, and BM25 statistics follow every change of what is live.
import { randomUUID } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { IndexChunksBatchSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { outboxResourceChanges, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, startHarness, statsDrift, type SearchHarness } from './support/harness.ts';
import { splitIntoBatches, type AccessInput } from './support/publisher.ts';

const owner = (seq: number, more: Partial<AccessInput> = {}): AccessInput => ({ ownerId: 'user-dana', sharedRoles: ['ANALYST'], tags: ['bio'], title: 'Enzyme kinetics', accessSeq: seq, ...more });

describe('search index: deletions and access changes', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_events');
    await h.start();
  }, 120_000);
  afterAll(async () => h?.close());

  const rows = async (doc: string) =>
    (await h.sql<{ live: number; staged: number; passages: number }>(
      `select count(*) filter (where live)::int as live, count(*) filter (where not live)::int as staged,
              (select count(*)::int from search.passages where document_id = $1) as passages
       from search.chunks where document_id = $1`,
      [doc],
    ))[0]!;
  const documentRow = async (doc: string) => (await h.sql('select live_version, deleted_through, deleted_at is not null as deleted, chunk_count, passage_count from search.documents where document_id = $1', [doc]))[0];
  const consistent = async () => {
    const drift = await statsDrift(h);
    expect(drift.termsDiffer).toEqual([]);
    expect(drift.kept).toEqual(drift.actual);
  };
  const drained = () => Promise.all([h.waitDrained(), h.waitDrained('search-document-events', 'EVENTS')]);
  const lexemes = async (doc: string) =>
    (await h.sql<{ lexeme: string }>('select distinct t.lexeme from search.chunks c, unnest(c.tsv) t where c.document_id = $1 and c.live order by 1', [doc])).map((r) => r.lexeme);

  it('deleting a document removes it and its statistics; later batches of any version are dropped', async () => {
    const doc = randomUUID();
    const v1 = splitIntoBatches(makeVersion(doc, 1, { chunks: 20, passages: 2, access: owner(1), words: 'xylophonist marimba' }), 8 * 1024);
    for (const b of v1) await h.publisher.publishBatch(b);
    await h.waitLive(doc, 1);
    expect(await documentRow(doc)).toMatchObject({ live_version: 1, chunk_count: 20, passage_count: 40 });
    expect((await h.sql<{ df: number }>(`select df from search.terms where lexeme = 'xylophonist'`))[0]?.df).toBeGreaterThanOrEqual(20);
    await h.publisher.deleteDocument(doc);
    await waitFor(async () => (await rows(doc)).live === 0, { what: 'document removed' });
    await drained();
    expect(await rows(doc)).toEqual({ live: 0, staged: 0, passages: 0 });
    expect(await documentRow(doc)).toEqual({ live_version: null, deleted_through: 2_147_483_647, deleted: true, chunk_count: 0, passage_count: 0 });
    await consistent();

    // A late copy of a v1 batch and a whole v2: the tombstone keeps them out.
    await h.publisher.publishRaw('index', toBinary(IndexChunksBatchSchema, v1[0]!), `${v1[0]!.eventId}:late`);
    await h.publisher.publishVersion(makeVersion(doc, 2, { chunks: 3, access: owner(2) }));
    await drained();
    expect(await rows(doc)).toEqual({ live: 0, staged: 0, passages: 0 });
    expect(await h.sql('select * from search.versions where document_id = $1', [doc])).toEqual([]);
    expect(h.logs()).toContain('batch of a deleted version dropped');
    // The same deletion again changes nothing.
    await h.publisher.deleteDocument(doc);
    await drained();
    expect(await documentRow(doc)).toEqual({ live_version: null, deleted_through: 2_147_483_647, deleted: true, chunk_count: 0, passage_count: 0 });
  });

  it('deleting a version removes it whether live or staged; a late batch of it is dropped, a newer version still completes', async () => {
    const doc = randomUUID();
    await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 5, access: owner(1) }));
    await h.waitLive(doc, 1);
    const v2 = splitIntoBatches(makeVersion(doc, 2, { chunks: 24, access: owner(1) }), 8 * 1024);
    const [last2, ...first2] = [v2.at(-1)!, ...v2.slice(0, -1)];
    for (const b of first2) await h.publisher.publishBatch(b);
    await drained();
    expect((await rows(doc)).staged).toBe(first2.reduce((n, b) => n + b.chunks.length, 0));

    // Version 1 (live) goes: nothing is live, v2 stays staged and completes when its last batch comes.
    await h.publisher.deleteDocument(doc, 1);
    await waitFor(async () => (await rows(doc)).live === 0, { what: 'v1 removed' });
    expect(await documentRow(doc)).toMatchObject({ live_version: null, deleted_through: 1, deleted: true, chunk_count: 0, passage_count: 0 });
    await consistent();
    await h.publisher.publishBatch(last2);
    await h.waitLive(doc, 2);
    expect(await rows(doc)).toEqual({ live: 24, staged: 0, passages: 24 });
    expect(await documentRow(doc)).toMatchObject({ live_version: 2, chunk_count: 24, passage_count: 24 });
    await consistent();

    // Version 3 staged in part, then deleted: its late last batch is dropped; version 4 goes live.
    const v3 = splitIntoBatches(makeVersion(doc, 3, { chunks: 12, access: owner(1) }), 8 * 1024);
    for (const b of v3.slice(1)) await h.publisher.publishBatch(b);
    await drained();
    await h.publisher.deleteDocument(doc, 3);
    await drained();
    expect(await rows(doc)).toEqual({ live: 0, staged: 0, passages: 0 });
    await h.publisher.publishBatch(v3[0]!);
    await drained();
    expect(await rows(doc)).toEqual({ live: 0, staged: 0, passages: 0 });
    await h.publisher.publishVersion(makeVersion(doc, 4, { chunks: 2, access: owner(1) }));
    await h.waitLive(doc, 4);
    expect(await rows(doc)).toEqual({ live: 2, staged: 0, passages: 2 });
    await consistent();
  });

  it('access changes apply by access_seq in any order, on live and staged rows; a new title re-indexes the keywords', async () => {
    const doc = randomUUID();
    await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 6, access: owner(1, { title: 'Andromeda survey' }) }));
    await h.waitLive(doc, 1);
    expect(await lexemes(doc)).toContain('andromeda');

    const newest = owner(3, { ownerId: 'user-erin', isPublic: true, sharedRoles: ['AUDITOR', 'ADMIN'], tags: ['astro', 'public'], title: 'Betelgeuse luminosity' });
    await h.publisher.changeAccess(doc, newest);
    await h.publisher.changeAccess(doc, owner(2, { title: 'Cassiopeia atlas', tags: ['old'] }));
    await drained();
    const want = { owner_id: 'user-erin', is_public: true, shared_roles: ['AUDITOR', 'ADMIN'], tags: ['astro', 'public'] };
    expect(await h.sql('select owner_id, is_public, shared_roles, tags, title, access_seq::int as seq from search.documents where document_id = $1', [doc])).toEqual([
      { ...want, title: 'Betelgeuse luminosity', seq: 3 },
    ]);
    expect(await h.sql('select distinct owner_id, is_public, shared_roles, tags, title from search.chunks where document_id = $1', [doc])).toEqual([{ ...want, title: 'Betelgeuse luminosity' }]);
    expect(await h.sql('select distinct owner_id, is_public, shared_roles, tags from search.passages where document_id = $1', [doc])).toEqual([want]);
    const words = await lexemes(doc);
    expect(words).toEqual(expect.arrayContaining(['betelgeus', 'luminos']));
    expect(words).not.toContain('andromeda');
    expect(words).not.toContain('cassiopeia');
    expect(await h.sql(`select lexeme from search.terms where lexeme in ('andromeda', 'cassiopeia')`)).toEqual([]);
    await consistent();

    // A version staged in part gets the next change too, and goes live with it (its batches carry older facts).
    const v2 = splitIntoBatches(makeVersion(doc, 2, { chunks: 16, access: owner(1) }), 8 * 1024);
    for (const b of v2.slice(1)) await h.publisher.publishBatch(b);
    await drained();
    await h.publisher.changeAccess(doc, owner(4, { ownerId: 'user-fay', title: 'Deneb spectra' }));
    await drained();
    expect(await h.sql('select distinct owner_id, title from search.chunks where document_id = $1 and not live', [doc])).toEqual([{ owner_id: 'user-fay', title: 'Deneb spectra' }]);
    await h.publisher.publishBatch(v2[0]!);
    await h.waitLive(doc, 2);
    expect(await h.sql('select distinct owner_id, title, live from search.chunks where document_id = $1', [doc])).toEqual([{ owner_id: 'user-fay', title: 'Deneb spectra', live: true }]);
    expect(await lexemes(doc)).toContain('deneb');
    await consistent();
  });

  it('tells the gateway cache when its index holds a change: an applied access change or deletion, not one ignored as older; and that it started', async () => {
    const doc = randomUUID();
    await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 2, access: owner(2) }));
    await h.waitLive(doc, 1);
    await h.publisher.changeAccess(doc, owner(3, { isPublic: true }));
    await h.publisher.changeAccess(doc, owner(1));
    await drained();
    await h.publisher.deleteDocument(doc);
    await h.publisher.deleteDocument(doc);
    await drained();
    const changes = await outboxResourceChanges(h.db.url, 'search', `index:${doc}`);
    expect(changes.map((c) => [c.resourceType, c.resourceId, c.change])).toEqual([
      ['index', doc, 'access'],
      ['index', doc, 'deleted'],
    ]);
    expect(changes[0]!.subject).toMatch(/csda\.events\.search\.index\.changed$/);
    const started = (await outboxResourceChanges(h.db.url, 'search')).filter((c) => c.change === 'started');
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started[0]!.resourceId).toMatch(/./);
  });

  it('facts that arrive before any batch are kept, and batches carrying older ones do not undo them; newer facts in a batch apply', async () => {
    const doc = randomUUID();
    await h.publisher.changeAccess(doc, owner(5, { ownerId: 'user-gil', title: 'Early facts' }));
    await drained();
    expect(await h.sql('select live_version, owner_id, access_seq::int as seq from search.documents where document_id = $1', [doc])).toEqual([{ live_version: null, owner_id: 'user-gil', seq: 5 }]);
    await h.publisher.publishVersion(makeVersion(doc, 1, { chunks: 4, access: owner(2, { ownerId: 'user-old', title: 'Stale facts' }) }));
    await h.waitLive(doc, 1);
    expect(await h.sql('select distinct owner_id, title from search.chunks where document_id = $1', [doc])).toEqual([{ owner_id: 'user-gil', title: 'Early facts' }]);

    await h.publisher.publishVersion(makeVersion(doc, 2, { chunks: 4, access: owner(9, { ownerId: 'user-hal', title: 'Facts from the batch' }) }));
    await h.waitLive(doc, 2);
    expect(await h.sql('select distinct owner_id, title from search.chunks where document_id = $1', [doc])).toEqual([{ owner_id: 'user-hal', title: 'Facts from the batch' }]);
    expect(await h.sql('select access_seq::int as seq from search.documents where document_id = $1', [doc])).toEqual([{ seq: 9 }]);
    await consistent();
  });
});
