// Both blob stores behind one interface, against real servers: PostgreSQL
// (parts of at most 1 MiB, read back one part at a time) and an S3-compatible
// server (s3rver from npm: multipart uploads over the S3 protocol).
import { randomBytes, randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createTestDatabase, query, runCommand, natsUrl, testNamespace, deleteNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../src/blobs/blob-store.ts';
import { BlobNotFoundError } from '../src/blobs/blob-store.ts';
import { createPostgresBlobStore } from '../src/blobs/postgres-blob-store.ts';
import { createS3BlobStore } from '../src/blobs/s3-blob-store.ts';
import { startS3, type TestS3 } from './support/s3-server.ts';

let db: TestDatabase;
let orm: MikroORM;
let s3: TestS3;
const namespace = testNamespace();
const stores: Record<string, BlobStore> = {};

beforeAll(async () => {
  db = await createTestDatabase('ingest_blobs');
  const migrated = await runCommand('document-ingest', 'migrate', { DATABASE_URL: db.url, NATS_URL: natsUrl(), NATS_NAMESPACE: namespace, NODE_ENV: 'test', LOG_LEVEL: 'warn' });
  if (migrated.code !== 0) throw new Error(migrated.stderr);
  orm = await MikroORM.init({ clientUrl: db.url, entities: [], discovery: { warnWhenNoEntities: false }, logger: () => undefined });
  stores.postgres = createPostgresBlobStore(() => orm.em.fork() as EntityManager);
  s3 = await startS3();
  stores.s3 = createS3BlobStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, prefix: 'originals/', forcePathStyle: true, credentials: s3.credentials });
}, 60_000);
afterAll(async () => {
  await orm?.close();
  await s3?.close();
  await db?.drop();
  await deleteNamespace(namespace);
});

async function* pieces(content: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < content.length; at += size) yield content.subarray(at, at + size);
}
async function readAll(store: BlobStore, key: string): Promise<{ bytes: Buffer; largest: number }> {
  const parts: Buffer[] = [];
  let largest = 0;
  for await (const p of store.read(key)) {
    parts.push(Buffer.from(p));
    largest = Math.max(largest, p.byteLength);
  }
  return { bytes: Buffer.concat(parts), largest };
}

for (const kind of ['postgres', 's3'] as const) {
  describe(`${kind} store`, () => {
    it('stores a stream of odd-sized pieces and reads it back byte for byte', async () => {
      const store = stores[kind]!;
      const content = randomBytes(7 * 1024 * 1024 + 123);
      const key = randomUUID();
      expect(await store.put(key, pieces(content, 100_003))).toEqual({ sizeBytes: content.length });
      const back = await readAll(store, key);
      expect(back.bytes.equals(content)).toBe(true);
      if (kind === 'postgres') {
        expect(back.largest).toBe(1024 * 1024);
        const parts = await query<{ n: number; max: number }>(db.url, 'select count(*)::int as n, max(octet_length(data))::int as max from ingest.blob_parts where blob_id = $1', [key]);
        expect(parts[0]).toEqual({ n: 8, max: 1024 * 1024 });
      }
      await store.delete(key);
      await expect(readAll(store, key)).rejects.toBeInstanceOf(BlobNotFoundError);
      await store.delete(key); // already gone: no error
    });

    it('keeps nothing when the source fails mid-stream, and rethrows its error', async () => {
      const store = stores[kind]!;
      const key = randomUUID();
      async function* failing() {
        yield randomBytes(6 * 1024 * 1024);
        throw new Error('the client went away');
      }
      await expect(store.put(key, failing())).rejects.toThrow('the client went away');
      await expect(readAll(store, key)).rejects.toBeInstanceOf(BlobNotFoundError);
      if (kind === 'postgres') expect(await query(db.url, 'select 1 from ingest.blobs where id = $1', [key])).toEqual([]);
    });

    it('stores an empty stream and answers readiness', async () => {
      const store = stores[kind]!;
      const key = randomUUID();
      expect(await store.put(key, pieces(Buffer.alloc(0), 1))).toEqual({ sizeBytes: 0 });
      expect((await readAll(store, key)).bytes.length).toBe(0);
      expect((await store.check()).ok).toBe(true);
    });
  });
}

it('the S3 store fails readiness for a bucket that does not exist', async () => {
  // (s3rver accepts any signature, so wrong credentials cannot be shown failing here.)
  const missing = createS3BlobStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'no-such-bucket', prefix: '', forcePathStyle: true, credentials: s3.credentials });
  await expect(missing.check()).rejects.toThrow();
});
