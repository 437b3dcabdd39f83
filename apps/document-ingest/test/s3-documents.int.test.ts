// The service with BLOB_STORE=s3 against a real S3-compatible server:
// originals go to the bucket (nothing in the PostgreSQL blob tables), the
// pipeline reads them from there, the owner downloads them, delete removes them.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BlobNotFoundError } from '../src/blobs/blob-store.ts';
import { createS3BlobStore } from '../src/blobs/s3-blob-store.ts';
import { docx } from '@csda/testing/documents';
import { describeError, startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';
import { startS3, type TestS3 } from './support/s3-server.ts';

let h: Harness;
let s3: TestS3;
let ingest: Ingest;
const alice = user('alice');

beforeAll(async () => {
  s3 = await startS3();
  h = await startHarness('ingest_s3', s3.env());
  await h.startSearch();
  ingest = await h.start();
}, 120_000);
afterAll(async () => {
  await h?.close();
  await s3?.close();
});

it('stores, parses, serves and deletes originals in the bucket', async () => {
  const content = await docx('ribosome');
  const { document } = await upload(ingest, await h.as(alice), { filename: 'cell.docx' }, content);
  await waitStatus(ingest, await h.as(alice), document.id, 'ready');
  const [row] = await h.sql<{ blob_store: string; blob_key: string }>('select blob_store, blob_key from ingest.documents where id = $1', [document.id]);
  expect(row?.blob_store).toBe('s3');
  expect(await h.sql('select 1 from ingest.blobs')).toEqual([]);
  const bucket = createS3BlobStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, prefix: 'originals/', forcePathStyle: true, credentials: s3.credentials });
  const stored: Uint8Array[] = [];
  for await (const p of bucket.read(row!.blob_key)) stored.push(p);
  expect(Buffer.concat(stored).equals(Buffer.from(content))).toBe(true);

  const downloaded: Uint8Array[] = [];
  for await (const m of ingest.client.getDocumentContent({ id: document.id }, await h.as(alice))) if (m.part.case === 'chunk') downloaded.push(m.part.value);
  expect(Buffer.concat(downloaded).equals(Buffer.from(content))).toBe(true);

  await ingest.client.deleteDocument({ id: document.id }, await h.as(alice));
  const read = async () => {
    for await (const p of bucket.read(row!.blob_key)) void p;
  };
  await expect(read()).rejects.toBeInstanceOf(BlobNotFoundError);
  expect((await describeError(ingest.client.getDocument({ id: document.id }, await h.as(alice)))).code).toBe('NOT_FOUND');
});
