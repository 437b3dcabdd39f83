// Messages that can never succeed are dead-lettered at once with the field
// they got wrong, write nothing, and do not hold up the messages behind them.
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { DocumentAccessChangedSchema, IndexChunksBatchSchema, type IndexChunksBatch } from '@csda/proto/csda/search/v1/index_pb.js';
import { waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVersion, startHarness, type SearchHarness } from './support/harness.ts';
import { accessMessage, splitIntoBatches } from './support/publisher.ts';

const access = { ownerId: 'user-ivy', accessSeq: 1 };

describe('search index: poison messages', () => {
  let h: SearchHarness;
  beforeAll(async () => {
    h = await startHarness('search_poison');
    await h.start();
  }, 120_000);
  afterAll(async () => h?.close());

  const batchOf = (doc: string, edit: (b: IndexChunksBatch) => void = () => undefined) => {
    const [b] = splitIntoBatches(makeVersion(doc, 1, { chunks: 2, access }));
    edit(b!);
    return b!;
  };
  const publish = (b: IndexChunksBatch, id = b.eventId) => h.publisher.publishRaw('index', toBinary(IndexChunksBatchSchema, b), id);

  it('dead-letters bad batches naming the field, writes nothing for them, and keeps indexing the good ones', async () => {
    const docs = Array.from({ length: 8 }, () => randomUUID());
    await h.publisher.publishRaw('index', new Uint8Array([0xff, 0xff, 0xff, 0x01]), 'garbage-1');
    await publish(batchOf(docs[0]!, (b) => (b.chunks[0]!.passageVectors[0] = new Uint8Array(2_040))));
    await publish(batchOf(docs[1]!, (b) => new DataView(b.chunks[1]!.passageVectors[0]!.buffer).setFloat32(8, Number.NaN, true)));
    await publish(batchOf(docs[2]!, (b) => (b.documentId = 'not-a-uuid')));
    await publish(batchOf(docs[3]!, (b) => (b.chunks[0]!.passageVectors = [])));
    await publish(batchOf(docs[4]!, (b) => (b.chunks[1]!.content = 'nul \u0000 byte')));
    await publish(batchOf(docs[5]!, (b) => (b.batchIndex = 3)));
    await publish(batchOf(docs[6]!, (b) => (b.access = undefined)));
    // A chunk id that another document's version already owns: refused by the database (unique), not retried.
    const good = randomUUID();
    const [taken] = await h.publisher.publishVersion(makeVersion(good, 1, { chunks: 2, access }));
    await h.waitLive(good, 1);
    await publish(batchOf(docs[7]!, (b) => (b.chunks[0]!.chunkId = taken!.chunks[0]!.chunkId)));
    // Two batches of one version that disagree on the version's shape.
    const mixed = randomUUID();
    const parts = splitIntoBatches(makeVersion(mixed, 1, { chunks: 20, access }), 8 * 1024);
    await h.publisher.publishBatch(parts[0]!);
    await waitFor(async () => (await h.sql('select 1 from search.version_batches where document_id = $1', [mixed])).length === 1, { what: 'first batch staged' });
    await publish(create(IndexChunksBatchSchema, { ...parts[1]!, batchCount: parts[1]!.batchCount + 1 }), 'mixed-shape');

    const after = randomUUID();
    await h.publisher.publishVersion(makeVersion(after, 1, { chunks: 3, access }));
    await h.waitLive(after, 1);
    await waitFor(async () => (await h.deadLetters('search-index-jobs')).length >= 10, { what: 'ten dead letters', timeoutMs: 20_000 });
    const reasons = (await h.deadLetters('search-index-jobs')).map((d) => d.reason);
    // Handled two at a time: the order of the dead letters is not the order of publication.
    expect(reasons).toHaveLength(10);
    expect(reasons).toEqual(expect.arrayContaining([
      'undecodable csda.search.v1.IndexChunksBatch',
      'chunks[0].passage_vectors[0]: 2040 bytes, expected 2048 (512 float32)',
      'chunks[1].passage_vectors[0]: value 2 is NaN (finite values up to ±65504 only)',
      'document_id: not a UUID ("not-a-uuid")',
      'chunks[0].passage_vectors: empty (at least one passage vector per chunk)',
      'chunks[1].content: contains a NUL character',
      'batch_index: 3 is outside 0..0',
      'access: missing',
      expect.stringMatching(new RegExp(`^document ${docs[7]} v1 batch 0: .*duplicate key`)),
      expect.stringMatching(/declares batch_count \d+, total_chunks 20, .*the version's first batch declared/),
    ]));
    expect((await h.deadLetters('search-index-jobs')).at(-1)!.subject).toBe(h.nats.subjects.subject('csda.jobs.search.index'));
    for (const doc of docs) expect(await h.sql('select 1 from search.chunks where document_id = $1', [doc])).toEqual([]);
    expect(await h.sql('select version, batch_index from search.version_batches where document_id = $1', [mixed])).toEqual([{ version: 1, batch_index: 0 }]);
    expect(h.logs()).toContain('message rejected, dead-lettered');
  });

  it('dead-letters bad document events; ignores document events that are not search\'s', async () => {
    const doc = randomUUID();
    await h.publisher.publishRaw('deleted', new Uint8Array([0x0a, 0x05, 0x01]), 'bad-delete');
    const change = create(DocumentAccessChangedSchema, { eventId: 'x', documentId: doc, access: accessMessage({ ownerId: '', accessSeq: 2 }) });
    await h.publisher.publishRaw('access_changed', toBinary(DocumentAccessChangedSchema, change), 'bad-owner');
    await h.publisher.publishRaw('access_changed', toBinary(DocumentAccessChangedSchema, { ...change, documentId: '42' } as never), 'bad-id');
    await h.publisher.publishRaw('deleted', new Uint8Array(0), 'wrong-type', 'csda.search.v1.DocumentAccessChanged');
    await h.nats.js.publish(h.nats.subjects.subject('csda.events.document-ingest.document.uploaded'), new Uint8Array([1, 2, 3]), { msgID: 'uploaded-1' });
    await h.waitDrained('search-document-events', 'EVENTS');
    await waitFor(async () => (await h.deadLetters('search-document-events')).length >= 4, { what: 'four dead letters' });
    expect((await h.deadLetters('search-document-events')).map((d) => d.reason).sort()).toEqual([
      'Csda-Event-Type is csda.search.v1.DocumentAccessChanged, expected csda.search.v1.DocumentDeleted',
      'access.owner_id: empty',
      'document_id: not a UUID ("42")',
      'undecodable csda.search.v1.DocumentDeleted',
    ]);
    expect(await h.sql('select 1 from search.documents where document_id = $1', [doc])).toEqual([]);
  });
});
