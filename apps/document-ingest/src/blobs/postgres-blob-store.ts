import type { EntityManager } from '@mikro-orm/postgresql';
import { BlobNotFoundError, rechunk, type BlobStore } from './blob-store.ts';

/** Largest part row (the table's CHECK says the same). */
export const PART_BYTES = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Originals in `ingest.blobs` / `ingest.blob_parts`: each part at most 1 MiB,
 * written as the upload streams (one short statement per part, no long
 * transaction) and read back one part per query. A blob is visible only once
 * `complete`; one left incomplete by a crash is removed by `sweepIncomplete`.
 */
export function createPostgresBlobStore(em: () => EntityManager): BlobStore & { sweepIncomplete(olderThanMs: number): Promise<number> } {
  const run = <T>(sql: string, params: unknown[] = []) => em().getConnection().execute(sql, params, 'all') as Promise<T>;
  const checkKey = (key: string) => {
    if (!UUID.test(key)) throw new TypeError(`postgres blob keys are UUIDs (got ${JSON.stringify(key.slice(0, 40))})`);
  };
  return {
    kind: 'postgres',
    async put(key, source) {
      checkKey(key);
      await run('insert into ingest.blobs (id) values (?)', [key]);
      let part = 0;
      let size = 0;
      try {
        for await (const data of rechunk(source, PART_BYTES)) {
          await run('insert into ingest.blob_parts (blob_id, part, data) values (?, ?, ?)', [key, part, data]);
          part += 1;
          size += data.length;
        }
        await run('update ingest.blobs set complete = true, size_bytes = ?, parts = ? where id = ?', [size, part, key]);
        return { sizeBytes: size };
      } catch (err) {
        await run('delete from ingest.blobs where id = ?', [key]).catch(() => undefined); // the sweep removes it otherwise
        throw err;
      }
    },
    async *read(key, options = {}) {
      checkKey(key);
      const [blob] = await run<{ parts: number }[]>('select parts from ingest.blobs where id = ? and complete', [key]);
      if (!blob) throw new BlobNotFoundError('postgres', key);
      for (let part = 0; part < blob.parts; part++) {
        options.signal?.throwIfAborted();
        const [row] = await run<{ data: Buffer }[]>('select data from ingest.blob_parts where blob_id = ? and part = ?', [key, part]);
        if (!row) throw new BlobNotFoundError('postgres', `${key} part ${part}`);
        yield row.data;
      }
    },
    async delete(key) {
      checkKey(key);
      await run('delete from ingest.blobs where id = ?', [key]);
    },
    async check() {
      await run('select 1 from ingest.blobs limit 1');
      return { ok: true, detail: 'postgres' };
    },
    async sweepIncomplete(olderThanMs) {
      const rows = await run<{ id: string }[]>(`delete from ingest.blobs where not complete and created_at < now() - (? || ' milliseconds')::interval returning id`, [String(olderThanMs)]);
      return rows.length;
    },
  };
}
