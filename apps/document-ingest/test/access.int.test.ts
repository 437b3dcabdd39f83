// Who sees and changes a document — public, own, shared with a role, admin;
// not yours = NOT_FOUND — and access changes and deletions reaching search.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from '@csda/testing/documents';
import { admin, describeError, startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';

let h: Harness;
let ingest: Ingest;
const alice = user('alice');
const bob = user('bob', ['USER', 'LAB']);
const carol = user('carol');
const root = admin();

beforeAll(async () => {
  h = await startHarness('ingest_access');
  await h.startSearch();
  ingest = await h.start();
}, 120_000);
afterAll(() => h?.close());

const ready = async (filename: string, word: string, meta: { isPublic?: boolean; sharedWithRoles?: string[]; tags?: string[] } = {}) => {
  const { document } = await upload(ingest, await h.as(alice), { filename, ...meta }, text(word));
  return waitStatus(ingest, await h.as(alice), document.id, 'ready');
};
const ids = async (p: typeof alice, filter: { tags?: string[]; status?: string; ownerId?: string } = {}) => (await ingest.client.listDocuments(filter, await h.as(p))).items.map((d) => d.id);
const found = async (p: typeof alice, word: string, id: string) => (await h.search(p, word)).some((x) => x.documentId === id);

describe('visibility', () => {
  it('private, public and role-shared documents are seen by exactly the right users, in lists and by id', async () => {
    const mine = await ready('private.txt', 'aardvark', { tags: ['vis'] });
    const open = await ready('public.txt', 'bonobo', { isPublic: true, tags: ['vis'] });
    const lab = await ready('lab.txt', 'capybara', { sharedWithRoles: ['LAB'], tags: ['vis'] });
    expect(new Set(await ids(alice, { tags: ['vis'] }))).toEqual(new Set([mine.id, open.id, lab.id]));
    expect(new Set(await ids(bob, { tags: ['vis'] }))).toEqual(new Set([open.id, lab.id]));
    expect(await ids(carol, { tags: ['vis'] })).toEqual([open.id]);
    expect(new Set(await ids(root, { tags: ['vis'] }))).toEqual(new Set([mine.id, open.id, lab.id]));
    expect((await describeError(ingest.client.getDocument({ id: mine.id }, await h.as(bob)))).code).toBe('NOT_FOUND');
    expect((await describeError(ingest.client.getDocumentStatus({ id: lab.id }, await h.as(carol)))).code).toBe('NOT_FOUND');
    expect((await ingest.client.getDocument({ id: lab.id }, await h.as(bob))).document?.id).toBe(lab.id);
    // Search applies the same rules.
    expect(await found(bob, 'aardvark', mine.id)).toBe(false);
    expect(await found(carol, 'bonobo', open.id)).toBe(true);
    expect(await found(bob, 'capybara', lab.id)).toBe(true);
    expect(await found(carol, 'capybara', lab.id)).toBe(false);
  });

  it('only the owner (or documents:admin) changes, reindexes or deletes; a reader gets NOT_FOUND', async () => {
    const open = await ready('readonly.txt', 'dugong', { isPublic: true });
    for (const call of [
      async () => ingest.client.updateDocument({ id: open.id, title: 'mine now' }, await h.as(bob)),
      async () => ingest.client.reindexDocument({ id: open.id }, await h.as(bob)),
      async () => ingest.client.deleteDocument({ id: open.id }, await h.as(bob)),
    ]) {
      expect((await describeError(call())).code).toBe('NOT_FOUND');
    }
    const renamed = await ingest.client.updateDocument({ id: open.id, title: 'Renamed by admin' }, await h.as(root));
    expect(renamed.document?.title).toBe('Renamed by admin');
  });

  it('filters by owner for admins only, by status and tags for all; bad filters name the field', async () => {
    const doc = await ready('owned.txt', 'echidna', { tags: ['owner-filter'] });
    expect(await ids(root, { ownerId: alice.id, tags: ['owner-filter'] })).toEqual([doc.id]);
    expect(await ids(root, { ownerId: carol.id, tags: ['owner-filter'] })).toEqual([]);
    expect((await describeError(ingest.client.listDocuments({ ownerId: alice.id }, await h.as(bob)))).code).toBe('AUTHORIZATION_ERROR');
    expect(await ids(alice, { status: 'ready', tags: ['owner-filter'] })).toEqual([doc.id]);
    expect(await ids(alice, { status: 'failed', tags: ['owner-filter'] })).toEqual([]);
    const bad = await describeError(ingest.client.listDocuments({ status: 'done' }, await h.as(alice)));
    expect(bad).toMatchObject({ code: 'VALIDATION_ERROR', details: { status: expect.stringContaining('ready') } });
    expect((await describeError(ingest.client.getDocument({ id: 'not-a-uuid' }, await h.as(alice)))).code).toBe('NOT_FOUND');
    const page = await ingest.client.listDocuments({ limit: 1, offset: 0 }, await h.as(alice));
    expect(page.items).toHaveLength(1);
    expect(Number(page.total)).toBeGreaterThan(1);
  });
});

describe('access changes', () => {
  it('sharing, publishing, tags and title reach search with a new access_seq; no change publishes nothing', async () => {
    const doc = await ready('share.txt', 'flamingo');
    expect(await found(carol, 'flamingo', doc.id)).toBe(false);
    const pub = (await ingest.client.updateDocument({ id: doc.id, isPublic: true, tags: { values: ['birds'] } }, await h.as(alice))).document!;
    expect(pub).toMatchObject({ isPublic: true, tags: ['birds'], accessSeq: 1n });
    await expect.poll(() => found(carol, 'flamingo', doc.id), { timeout: 15_000 }).toBe(true);
    const unshared = (await ingest.client.updateDocument({ id: doc.id, isPublic: false, sharedWithRoles: { values: ['LAB'] }, title: 'Pink birds' }, await h.as(alice))).document!;
    expect(unshared.accessSeq).toBe(2n);
    await expect.poll(() => found(carol, 'flamingo', doc.id), { timeout: 15_000 }).toBe(false);
    expect(await found(bob, 'flamingo', doc.id)).toBe(true);
    const [facts] = await h.sql<{ access_seq: string; title: string; tags: string[]; shared_roles: string[] }>('select access_seq::text, title, tags, shared_roles from search.documents where document_id = $1', [doc.id]);
    expect(facts).toEqual({ access_seq: '2', title: 'Pink birds', tags: ['birds'], shared_roles: ['LAB'] });
    const same = (await ingest.client.updateDocument({ id: doc.id, title: 'Pink birds', tags: { values: ['birds'] } }, await h.as(alice))).document!;
    expect(same.accessSeq).toBe(2n);
    const bad = await describeError(ingest.client.updateDocument({ id: doc.id, sharedWithRoles: { values: ['lab'] } }, await h.as(alice)));
    expect(bad).toMatchObject({ code: 'VALIDATION_ERROR', details: { 'shared_with_roles[0]': expect.any(String) } });
  });
});

describe('delete', () => {
  it('removes the original, the chunks and the index entries, audited; the document is NOT_FOUND afterwards', async () => {
    const doc = await ready('gone.txt', 'gazelle');
    const key = (await h.sql<{ blob_key: string }>('select blob_key from ingest.documents where id = $1', [doc.id]))[0]!.blob_key;
    await ingest.client.deleteDocument({ id: doc.id }, await h.as(alice));
    expect((await describeError(ingest.client.getDocument({ id: doc.id }, await h.as(alice)))).code).toBe('NOT_FOUND');
    expect((await describeError(ingest.client.deleteDocument({ id: doc.id }, await h.as(alice)))).code).toBe('NOT_FOUND');
    expect(await h.sql('select 1 from ingest.blobs where id = $1', [key])).toEqual([]);
    expect(await h.sql('select 1 from ingest.versions where document_id = $1', [doc.id])).toEqual([]);
    await expect.poll(async () => (await h.sql('select 1 from search.chunks where document_id = $1', [doc.id])).length, { timeout: 15_000 }).toBe(0);
    expect(await found(alice, 'gazelle', doc.id)).toBe(false);
    const audit = await h.sql<{ subject: string }>(`select subject from ingest.outbox where aggregate = $1 and subject like '%.audit.%' order by id`, [`document:${doc.id}`]);
    expect(audit.map((a) => a.subject.split('.').at(-1))).toEqual(['document_uploaded', 'document_deleted']);
    // The same content can be uploaded again afterwards: a new document.
    const again = await upload(ingest, await h.as(alice), { filename: 'gone.txt' }, text('gazelle'));
    expect(again).toMatchObject({ duplicate: false });
    expect(again.document.id).not.toBe(doc.id);
  });
});
