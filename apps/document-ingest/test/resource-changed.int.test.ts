// document-ingest's ResourceChanged events (resource_type `document`), which
// the gateway's cache consumes to stop reading what it kept about a document:
// created, updated, every status transition of the current version, deleted —
// each committed with its change, none for a refused one; and search's
// consumer on document.> acknowledging them unread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@csda/testing';
import { encryptedPdf, text } from '@csda/testing/documents';
import { describeError, startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';

let h: Harness;
let ingest: Ingest;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('ingest_changed');
  await h.startSearch();
  ingest = await h.start();
}, 120_000);
afterAll(() => h?.close());

const subject = () => h.nats.subjects.subject('csda.events.document-ingest.document.changed');
const kinds = async (id: string) => (await h.changes(id)).map((c) => c.change);
// queued → parsing → chunking → embedding → indexing → ready
const TO_READY = ['status', 'status', 'status', 'status', 'status'];

describe('document ResourceChanged events', () => {
  it('upload, each status transition, a change of title/tags/sharing, a reindex and delete each commit one event, ids only, relayed to EVENTS', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'rc-private-name.txt', title: 'rc-secret-title', tags: ['rc-tag'] }, text('wombat'));
    const [created] = await h.changes(document.id);
    expect(created).toMatchObject({ subject: subject(), resourceType: 'document', resourceId: document.id, change: 'created', ownerId: alice.id });
    expect(created!.eventId).not.toBe('');
    expect(created!.occurredAtMs).toBeGreaterThan(0n);

    await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    expect(await kinds(document.id)).toEqual(['created', ...TO_READY]);

    await ingest.client.updateDocument({ id: document.id, title: 'rc-renamed' }, await h.as(alice));
    await ingest.client.updateDocument({ id: document.id, tags: { values: ['rc-other'] } }, await h.as(alice));
    await ingest.client.updateDocument({ id: document.id, isPublic: true }, await h.as(alice));
    await ingest.client.updateDocument({ id: document.id, sharedWithRoles: { values: ['LAB'] } }, await h.as(alice));
    // The same values again change nothing: no event.
    await ingest.client.updateDocument({ id: document.id, title: 'rc-renamed', isPublic: true }, await h.as(alice));
    expect(await kinds(document.id)).toEqual(['created', ...TO_READY, 'updated', 'updated', 'updated', 'updated']);
    // Each update also still carries search's access_changed.
    const access = await h.sql<{ n: number }>(`select count(*)::int as n from ingest.outbox where aggregate = $1 and subject like '%.document.access_changed'`, [`document:${document.id}`]);
    expect(access[0]!.n).toBe(4);

    // A reindex queues version 2 (a status change) and runs it to ready again.
    const again = await ingest.client.reindexDocument({ id: document.id }, await h.as(alice));
    expect(again.document?.status).toMatchObject({ version: 2, status: 'queued' });
    await waitFor(async () => (await waitStatus(ingest, await h.as(alice), document.id, 'ready')).status?.version === 2, { what: 'version 2 ready' });
    expect(await kinds(document.id)).toEqual(['created', ...TO_READY, 'updated', 'updated', 'updated', 'updated', 'status', ...TO_READY]);

    await ingest.client.deleteDocument({ id: document.id }, await h.as(alice));
    const changes = await h.changes(document.id);
    expect(changes.map((c) => c.change)).toEqual(['created', ...TO_READY, 'updated', 'updated', 'updated', 'updated', 'status', ...TO_READY, 'deleted']);
    for (const c of changes) expect(c).toMatchObject({ subject: subject(), resourceType: 'document', resourceId: document.id, ownerId: alice.id });
    expect(new Set(changes.map((c) => c.eventId)).size).toBe(changes.length);
    // Still search's tombstone beside it.
    expect(await h.sql(`select 1 from ingest.outbox where aggregate = $1 and subject like '%.document.deleted'`, [`document:${document.id}`])).toHaveLength(1);
    // Never a name, title, tag or role: only ids and the kind of change.
    const payloads = await h.sql<{ payload: Buffer }>(`select payload from ingest.outbox where aggregate = $1 and event_type = 'csda.events.v1.ResourceChanged'`, [`document:${document.id}`]);
    expect(payloads).toHaveLength(changes.length);
    for (const { payload } of payloads) expect(payload.toString('latin1')).not.toMatch(/rc-private-name|rc-secret-title|rc-renamed|rc-tag|rc-other|LAB|wombat/);

    // The relay publishes them on EVENTS, in commit order.
    await waitFor(async () => (await h.published(document.id)).length === changes.length, { what: `the ${changes.length} events on EVENTS` });
    const published = await h.published(document.id);
    expect(published.map((p) => [p.subject, p.change, p.eventId])).toEqual(changes.map((c) => [subject(), c.change, c.eventId]));

    // Search's consumer on document.> acknowledged the `changed` events unread (none redelivered or pending) and still applied the deletion.
    await waitFor(async () => (await h.sql('select 1 from search.chunks where document_id = $1', [document.id])).length === 0, { what: 'search dropped the document' });
    await waitFor(
      async () => {
        const info = await h.nats.jsm.consumers.info(h.nats.subjects.stream('EVENTS'), 'search-document-events');
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: 'search acknowledged every document event' },
    );
    const info = await h.nats.jsm.consumers.info(h.nats.subjects.stream('EVENTS'), 'search-document-events');
    expect(info.num_redelivered).toBe(0);
  });

  it('a document that fails: created, parsing, failed; a reindex of it: queued, parsing, failed', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'rc-locked.pdf' }, await encryptedPdf());
    await waitStatus(ingest, await h.as(alice), document.id, 'failed');
    expect(await kinds(document.id)).toEqual(['created', 'status', 'status']);
    await ingest.client.reindexDocument({ id: document.id }, await h.as(alice));
    await waitFor(async () => (await waitStatus(ingest, await h.as(alice), document.id, 'failed')).status?.version === 2, { what: 'version 2 failed' });
    expect(await kinds(document.id)).toEqual(['created', 'status', 'status', 'status', 'status', 'status']);
  });

  it('a refused change commits nothing: bad upload, duplicate, validation, not the owner, not found', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'rc-refused.txt' }, text('quokka'));
    await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    const before = (await h.changes()).length;
    const refused = async (call: Promise<unknown>, code: string) => expect((await describeError(call)).code).toBe(code);

    await refused(upload(ingest, await h.as(alice), { filename: 'rc-bad.docx' }, text('not a docx')), 'VALIDATION_ERROR');
    await refused(upload(ingest, await h.as(alice), { filename: 'rc-empty.txt' }, new Uint8Array(0)), 'VALIDATION_ERROR');
    // The same content again is answered with the existing document: nothing created.
    expect(await upload(ingest, await h.as(alice), { filename: 'rc-refused.txt' }, text('quokka'))).toMatchObject({ duplicate: true, document: { id: document.id } });
    await refused(ingest.client.updateDocument({ id: document.id, sharedWithRoles: { values: ['lab'] } }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(ingest.client.updateDocument({ id: document.id, title: 'x'.repeat(10_000) }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(ingest.client.updateDocument({ id: document.id, title: 'mine now' }, await h.as(bob)), 'NOT_FOUND');
    await refused(ingest.client.reindexDocument({ id: document.id }, await h.as(bob)), 'NOT_FOUND');
    await refused(ingest.client.deleteDocument({ id: document.id }, await h.as(bob)), 'NOT_FOUND');
    await refused(ingest.client.deleteDocument({ id: '00000000-0000-4000-8000-000000000001' }, await h.as(alice)), 'NOT_FOUND');
    await ingest.client.updateDocument({ id: document.id, title: (await ingest.client.getDocument({ id: document.id }, await h.as(alice))).document!.title }, await h.as(alice));

    expect((await h.changes()).length).toBe(before);
    expect((await ingest.client.getDocument({ id: document.id }, await h.as(alice))).document).toMatchObject({ accessSeq: 0n, status: { version: 1, status: 'ready' } });
  });
});
