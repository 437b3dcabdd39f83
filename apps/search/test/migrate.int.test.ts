import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createTestDatabase, deleteNamespace, freePort, generateTestKeys, natsUrl, query, runCommand, spawnService, testNamespace, waitFor, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_MODEL_ENV } from './support/harness.ts';

describe('search migrate', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  const env = () => ({ DATABASE_URL: db.url, NATS_NAMESPACE: namespace });
  const hnsw = () =>
    query<{ name: string; options: string[]; valid: boolean; oid: number }>(
      db.url,
      `select c.relname as name, c.reloptions as options, i.indisvalid as valid, c.oid::int as oid from pg_class c join pg_index i on i.indexrelid = c.oid
       where c.relnamespace = 'search'::regnamespace and c.relname like '%hnsw%' order by 1`,
    );
  beforeAll(async () => {
    db = await createTestDatabase('search');
    await query(db.url, 'DROP EXTENSION IF EXISTS vector');
  });
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('creates schema search, enables pgvector, creates the index tables and HNSW indexes, and is idempotent', async () => {
    for (let run = 0; run < 2; run++) {
      const result = await runCommand('search', 'migrate', env());
      expect(result.code, result.stderr).toBe(0);
    }
    expect(await query(db.url, `select nspname from pg_namespace where nspname = 'search'`)).toHaveLength(1);
    const [row] = await query<{ d: number }>(db.url, `select '[1,0,0]'::vector <=> '[0,1,0]'::vector as d`);
    expect(row?.d).toBeCloseTo(1);
    const applied = await query(db.url, 'select name from search.mikro_orm_migrations order by id');
    expect(applied).toEqual([{ name: 'Migration20261122000000-init' }, { name: 'Migration20261208000000-index' }, { name: 'Migration20261208010000-outbox' }, { name: 'Migration20261214000000-passage-count' }, { name: 'Migration20261215000000-access-tokens' }]);
    const tables = await query<{ t: string }>(db.url, `select tablename as t from pg_tables where schemaname = 'search' and tablename <> 'mikro_orm_migrations' order by 1`);
    expect(tables.map((r) => r.t)).toEqual(['chunks', 'documents', 'outbox', 'passages', 'stats', 'terms', 'version_batches', 'versions']);
    expect((await hnsw()).map(({ name, options, valid }) => ({ name, options, valid }))).toEqual([
      { name: 'passages_embedding_1536_hnsw', options: ['m=16', 'ef_construction=64'], valid: true },
      { name: 'passages_embedding_512_hnsw', options: ['m=16', 'ef_construction=64'], valid: true },
    ]);
    const defs = await query<{ def: string }>(db.url, `select pg_get_indexdef(c.oid) as def from pg_class c where c.relnamespace = 'search'::regnamespace and c.relname like '%hnsw%' order by c.relname`);
    expect(defs.map((d) => d.def)).toEqual([
      expect.stringContaining('USING hnsw (((embedding)::halfvec(1536)) halfvec_cosine_ops) WITH (m=\'16\', ef_construction=\'64\') WHERE (dims = 1536)'),
      expect.stringContaining('USING hnsw (((embedding)::vector(512)) vector_cosine_ops) WITH (m=\'16\', ef_construction=\'64\') WHERE (dims = 512)'),
    ]);
  });

  it('rebuilds the HNSW indexes when SEARCH_HNSW_M / SEARCH_HNSW_EF_CONSTRUCTION change, and leaves them alone otherwise', async () => {
    await query(db.url, `insert into search.passages (chunk_id, passage_index, document_id, version, owner_id, is_public, shared_roles, tags, model, dims, embedding)
      select gen_random_uuid(), 0, gen_random_uuid(), 1, 'u', true, '{}', '{}', 'm', 512, array_fill(i::real, array[512])::vector from generate_series(1, 50) i`);
    const before = await hnsw();
    const changed = await runCommand('search', 'migrate', { ...env(), SEARCH_HNSW_M: '8', SEARCH_HNSW_EF_CONSTRUCTION: '32' });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('HNSW index rebuilt');
    const after = await hnsw();
    expect(after.map(({ name, options, valid }) => ({ name, options, valid }))).toEqual([
      { name: 'passages_embedding_1536_hnsw', options: ['m=8', 'ef_construction=32'], valid: true },
      { name: 'passages_embedding_512_hnsw', options: ['m=8', 'ef_construction=32'], valid: true },
    ]);
    expect(after[1]!.oid).not.toBe(before[1]!.oid);
    const same = await runCommand('search', 'migrate', { ...env(), SEARCH_HNSW_M: '8', SEARCH_HNSW_EF_CONSTRUCTION: '32' });
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).not.toContain('HNSW index');
    expect((await hnsw()).map((i) => i.oid)).toEqual(after.map((i) => i.oid));
  });

  it('the passage-count migration fills each document with the passages of its live version, staged and older ones not counted', async () => {
    const [live, none] = [randomUUID(), randomUUID()];
    await query(db.url, `insert into search.documents (document_id, live_version, chunk_count) values ($1, 2, 2), ($2, null, 0)`, [live, none]);
    // Live version 2: chunk a with 3 passages, chunk b with 1; a leftover of version 1 and a staged version 3.
    await query(db.url, `insert into search.passages (chunk_id, passage_index, document_id, version, live, owner_id, is_public, shared_roles, tags, model, dims, embedding)
      select x.chunk_id, x.i, $1, x.version, x.live, 'u', true, '{}', '{}', 'm', 3, '[1,0,0]'::vector
      from (values ($2::uuid, 0, 2, true), ($2, 1, 2, true), ($2, 2, 2, true), ($3, 0, 2, true), ($4, 0, 1, true), ($5, 0, 3, false), ($6, 0, 1, false)) as x(chunk_id, i, version, live)`,
      [live, randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()]);
    await query(db.url, `alter table search.documents drop column passage_count; delete from search.mikro_orm_migrations where name = 'Migration20261214000000-passage-count'`);
    const result = await runCommand('search', 'migrate', env());
    expect(result.code, result.stderr).toBe(0);
    const counts = await query<{ document_id: string; passage_count: number }>(db.url, 'select document_id, passage_count from search.documents where document_id = any($1::uuid[])', [[live, none]]);
    expect(Object.fromEntries(counts.map((r) => [r.document_id, r.passage_count]))).toEqual({ [live]: 4, [none]: 0 });
  });

  it('the access-tokens migration gives every chunk its tokens, indexed with its tsvector, and they follow its facts', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await query(db.url, `drop index search.chunks_tsv_access_idx; alter table search.chunks drop column access; drop function search.access_tokens;
      create index chunks_tsv_idx on search.chunks using gin (tsv); delete from search.mikro_orm_migrations where name = 'Migration20261215000000-access-tokens'`);
    await query(db.url, `insert into search.chunks (id, document_id, version, chunk_index, content, live, owner_id, is_public, shared_roles, tags, title, model)
      values ($1, $3, 1, 0, 'public tides', true, 'user-a', true, '{EDITOR,"O''NEIL"}', '{}', 't', 'm'), ($2, $3, 1, 1, 'private tides', true, 'user-b', false, '{}', '{}', 't', 'm')`, [a, b, randomUUID()]);
    const result = await runCommand('search', 'migrate', env());
    expect(result.code, result.stderr).toBe(0);
    const tokens = async () => Object.fromEntries((await query<{ id: string; access: string[] }>(db.url, 'select id, access from search.chunks where id = any($1::uuid[])', [[a, b]])).map((r) => [r.id, r.access]));
    expect(await tokens()).toEqual({ [a]: ['public', 'user:user-a', 'role:EDITOR', "role:O'NEIL"], [b]: ['user:user-b'] });
    const [def] = await query<{ def: string }>(db.url, `select pg_get_indexdef('search.chunks_tsv_access_idx'::regclass) as def`);
    expect(def!.def).toContain('USING gin (tsv, access)');
    expect(await query(db.url, `select 1 from pg_class where relnamespace = 'search'::regnamespace and relname = 'chunks_tsv_idx'`)).toEqual([]);
    await query(db.url, `update search.chunks set is_public = false, shared_roles = '{AUDITOR}' where id = $1`, [a]);
    await query(db.url, `update search.chunks set owner_id = 'user-c' where id = $1`, [b]);
    expect(await tokens()).toEqual({ [a]: ['user:user-a', 'role:AUDITOR'], [b]: ['user:user-c'] });
    await query(db.url, 'delete from search.chunks where id = any($1::uuid[])', [[a, b]]);
  });

  it('refuses an ef_construction below 2 × m before touching anything (exit 78, naming the variable)', async () => {
    const bad = await runCommand('search', 'migrate', { ...env(), SEARCH_HNSW_M: '40' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('SEARCH_HNSW_EF_CONSTRUCTION: 64 is less than 2 × SEARCH_HNSW_M (80)');
    const range = await runCommand('search', 'migrate', { ...env(), SEARCH_HNSW_M: '1' });
    expect(range.code).toBe(78);
    expect(range.stderr).toContain('SEARCH_HNSW_M');
  });

  it('a replica whose HNSW index is missing is not ready, and says to run migrate', async () => {
    await query(db.url, 'drop index search.passages_embedding_512_hnsw');
    const service = spawnService('search', { ...env(), ...generateTestKeys().envFor('search'), ...NO_MODEL_ENV, NATS_URL: natsUrl(), NODE_ENV: 'production' }, await freePort(), await freePort());
    try {
      let body = '';
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`).catch(() => undefined);
          body = res ? await res.text() : '';
          return res?.status === 503 && body.includes('vector indexes');
        },
        { timeoutMs: 30_000, what: `readyz naming the missing index (${service.logs().slice(-500)})` },
      );
      expect(body).toContain('passages_embedding_512_hnsw missing: run migrate');
      const fixed = await runCommand('search', 'migrate', env());
      expect(fixed.code, fixed.stderr).toBe(0);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)).status === 200, { timeoutMs: 15_000, what: 'ready after migrate' });
    } finally {
      const exited = once(service.process, 'exit');
      service.process.kill('SIGTERM');
      await exited;
    }
  });
});
