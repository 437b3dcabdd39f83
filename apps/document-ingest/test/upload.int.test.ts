// Uploads the service refuses or answers differently: the size limit while
// streaming, wrong and unknown types, 0 bytes, bad metadata, duplicates; and
// the stored original read back by its owner only.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docx, text, textPdf } from '@csda/testing/documents';
import { describeError, startHarness, upload, uploadStream, user, type Harness, type Ingest, type Meta } from './support/harness.ts';

let h: Harness;
let ingest: Ingest;
const alice = user('alice');
const bob = user('bob');
const LIMIT = 1024 * 1024;

beforeAll(async () => {
  h = await startHarness('ingest_upload', { DOCUMENT_MAX_BYTES: String(LIMIT) });
  ingest = await h.start();
}, 120_000);
afterAll(() => h?.close());

const documents = () => h.sql<{ n: number }>('select count(*)::int as n from ingest.documents').then((r) => r[0]!.n);
const blobs = () => h.sql<{ n: number }>('select count(*)::int as n from ingest.blobs').then((r) => r[0]!.n);
const parts = () => h.sql<{ n: number }>('select count(*)::int as n from ingest.blob_parts').then((r) => r[0]!.n);

describe('the size limit', () => {
  it('refuses a stream as soon as it passes DOCUMENT_MAX_BYTES, PAYLOAD_TOO_LARGE, keeping nothing', async () => {
    const before = { docs: await documents(), blobs: await blobs() };
    let sent = 0;
    async function* endless() {
      // 64 MiB if nobody stopped it; the service must stop it near 1 MiB.
      for (let i = 0; i < 1024; i++) {
        sent += 64 * 1024;
        yield new Uint8Array(64 * 1024).fill(0x61);
      }
    }
    const err = await describeError(upload(ingest, await h.as(alice), { filename: 'big.txt' }, endless()));
    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(err.message).toBe('The document is larger than the 1 MiB limit');
    expect(err.details).toMatchObject({ field: 'file', limit_bytes: String(LIMIT) });
    expect(sent).toBeLessThan(16 * LIMIT);
    expect({ docs: await documents(), blobs: await blobs() }).toEqual(before);
  });

  it('takes a file of exactly the limit', async () => {
    const content = new Uint8Array(LIMIT).fill(0x20);
    content.set(new TextEncoder().encode('exactly at the limit, words and spaces. '.repeat(20_000)).subarray(0, LIMIT), 0);
    const { document } = await upload(ingest, await h.as(alice), { filename: 'exact.txt' }, content);
    expect(document.sizeBytes).toBe(BigInt(LIMIT));
    expect(document.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    // Stored in parts of at most 1 MiB.
    const parts = await h.sql<{ n: number; max: number }>('select count(*)::int as n, max(octet_length(data))::int as max from ingest.blob_parts');
    expect(parts[0]!.max).toBeLessThanOrEqual(LIMIT);
  });
});

describe('types', () => {
  it('refuses bytes that disagree with the extension, naming what they are', async () => {
    const err = await describeError(upload(ingest, await h.as(alice), { filename: 'report.docx' }, await textPdf(1)));
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.message).toBe('the file is a PDF but its name ends in .docx');
    expect(err.details).toMatchObject({ field: 'file', reason: 'mismatch', found: 'a PDF' });
    const zip = await describeError(upload(ingest, await h.as(alice), { filename: 'notes.txt' }, await docx()));
    expect(zip.message).toMatch(/^the file is .* but its name ends in \.txt$/);
  });

  it('refuses 0 bytes and unsupported types', async () => {
    const empty = await describeError(upload(ingest, await h.as(alice), { filename: 'empty.txt' }, new Uint8Array(0)));
    expect(empty).toMatchObject({ code: 'VALIDATION_ERROR', message: 'the file is empty (0 bytes)' });
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    const image = await describeError(upload(ingest, await h.as(alice), { filename: 'photo.png' }, png));
    expect(image.code).toBe('VALIDATION_ERROR');
    expect(image.message).toMatch(/PNG/);
    expect(await blobs()).toBe(1); // only the file of the size test
  });
});

describe('the end message', () => {
  it('a stream that stops without it is a cancelled upload: VALIDATION_ERROR naming it, nothing stored, small or large', async () => {
    const before = { docs: await documents(), blobs: await blobs(), parts: await parts() };
    for (const content of [text('cancelled small'), new Uint8Array(LIMIT - 1).fill(0x61)]) {
      const err = await describeError(ingest.client.uploadDocument(uploadStream({ filename: 'cut.txt' }, content, 64 * 1024, { end: false }), await h.as(alice)));
      expect(err).toMatchObject({ code: 'VALIDATION_ERROR', message: 'The upload ended without its end message: it was cancelled, nothing was stored', details: { end: 'required after the last chunk' } });
      expect({ docs: await documents(), blobs: await blobs(), parts: await parts() }).toEqual(before);
    }
    // Nothing after the end message is read; the same bytes with it are stored.
    const { document } = await ingest.client.uploadDocument((async function* () {
      yield* uploadStream({ filename: 'whole.txt' }, text('ended properly'));
      yield { part: { case: 'chunk' as const, value: new TextEncoder().encode(' never read') } };
    })(), await h.as(alice));
    expect(document!.sha256).toBe(createHash('sha256').update(text('ended properly')).digest('hex'));
    expect(await documents()).toBe(before.docs + 1);
  });
});

describe('metadata', () => {
  it('refuses a stream without metadata first, or with it twice, and bad fields by name', async () => {
    const noMeta = await describeError(ingest.client.uploadDocument((async function* () {
      yield { part: { case: 'chunk' as const, value: new Uint8Array([1, 2, 3]) } };
    })(), await h.as(alice)));
    expect(noMeta).toMatchObject({ code: 'VALIDATION_ERROR', details: { metadata: 'required in the first message' } });
    const twice = await describeError(ingest.client.uploadDocument((async function* () {
      yield* uploadStream({ filename: 'a.txt' }, text(), 64 * 1024, { end: false });
      yield { part: { case: 'metadata' as const, value: { filename: 'b.txt' } } };
    })(), await h.as(alice)));
    expect(twice.details).toMatchObject({ metadata: 'only in the first message' });
    const bad: [Meta, string][] = [
      [{ filename: '' }, 'filename'],
      [{ filename: 'a\u0001.txt' }, 'filename'],
      [{ filename: 'a.txt', title: 'x'.repeat(501) }, 'title'],
      [{ filename: 'a.txt', tags: ['ok', ''] }, 'tags[1]'],
      [{ filename: 'a.txt', sharedWithRoles: ['lower'] }, 'shared_with_roles[0]'],
    ];
    for (const [meta, field] of bad) {
      const err = await describeError(upload(ingest, await h.as(alice), meta, text()));
      expect(err.code, JSON.stringify(meta)).toBe('VALIDATION_ERROR');
      expect(Object.keys(err.details), JSON.stringify(meta)).toContain(field);
    }
  });

  it('keeps only the base name of a path, and needs documents:write', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: '../../etc/sub\\dir\\passwd.txt', title: 'Passwords' }, text('path'));
    expect(document).toMatchObject({ filename: 'passwd.txt', title: 'Passwords' });
    const reader = { ...alice, permissions: ['documents:read'] };
    expect((await describeError(upload(ingest, await h.as(reader), { filename: 'x.txt' }, text()))).code).toBe('AUTHORIZATION_ERROR');
    expect((await describeError(upload(ingest, { headers: {} }, { filename: 'x.txt' }, text()))).code).toBe('AUTHENTICATION_ERROR');
  });
});

describe('duplicates', () => {
  it('answers the existing document for the same content by the same owner, unless allowed; other owners get their own', async () => {
    const content = text('duplicate detection');
    const first = await upload(ingest, await h.as(alice), { filename: 'one.txt' }, content);
    const again = await upload(ingest, await h.as(alice), { filename: 'two.txt', title: 'Other title' }, content);
    expect(again).toMatchObject({ duplicate: true, document: { id: first.document.id, filename: 'one.txt' } });
    const allowed = await upload(ingest, await h.as(alice), { filename: 'three.txt', allowDuplicate: true }, content);
    expect(allowed.duplicate).toBe(false);
    expect(allowed.document.id).not.toBe(first.document.id);
    const bobs = await upload(ingest, await h.as(bob), { filename: 'one.txt' }, content);
    expect(bobs.duplicate).toBe(false);
    // The duplicate's copy was not kept: three documents, three originals of this content.
    const rows = await h.sql<{ n: number }>('select count(*)::int as n from ingest.documents where sha256 = $1', [first.document.sha256]);
    expect(rows[0]!.n).toBe(3);
    expect(await blobs()).toBe(await documents());
  });

  it('stores one document when the same content arrives twice at once', async () => {
    const content = text('concurrent twins');
    const [a, b] = await Promise.all([upload(ingest, await h.as(alice), { filename: 'a.txt' }, content), upload(ingest, await h.as(alice), { filename: 'b.txt' }, content)]);
    expect(a.document.id).toBe(b.document.id);
    expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
  });
});

describe('the original', () => {
  it('streams back to its owner byte for byte; others get NOT_FOUND, even for a public document', async () => {
    const content = await textPdf(2, 'original');
    const { document } = await upload(ingest, await h.as(alice), { filename: 'orig.pdf', isPublic: true }, content);
    const parts: Uint8Array[] = [];
    let header;
    for await (const m of ingest.client.getDocumentContent({ id: document.id }, await h.as(alice))) {
      if (m.part.case === 'header') header = m.part.value;
      else if (m.part.case === 'chunk') parts.push(m.part.value);
    }
    expect(header).toMatchObject({ filename: 'orig.pdf', mimeType: 'application/pdf', sizeBytes: BigInt(content.length), sha256: document.sha256 });
    expect(Buffer.concat(parts).equals(Buffer.from(content))).toBe(true);
    const read = async (p: typeof bob) => {
      for await (const m of ingest.client.getDocumentContent({ id: document.id }, await h.as(p))) void m;
    };
    expect((await describeError(read(bob))).code).toBe('NOT_FOUND');
    // bob sees the public document itself.
    expect((await ingest.client.getDocument({ id: document.id }, await h.as(bob))).document?.id).toBe(document.id);
  });
});
