import { createTestDatabase, deleteNamespace, query, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('search migrate', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('search');
    await query(db.url, 'DROP EXTENSION IF EXISTS vector');
  });
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('creates schema search and enables pgvector, and is idempotent', async () => {
    for (let run = 0; run < 2; run++) {
      const result = await runCommand('search', 'migrate', { DATABASE_URL: db.url, NATS_NAMESPACE: namespace });
      expect(result.code, result.stderr).toBe(0);
    }
    expect(await query(db.url, `select nspname from pg_namespace where nspname = 'search'`)).toHaveLength(1);
    const [row] = await query<{ d: number }>(db.url, `select '[1,0,0]'::vector <=> '[0,1,0]'::vector as d`);
    expect(row?.d).toBeCloseTo(1);
    const applied = await query(db.url, 'select name from search.mikro_orm_migrations');
    expect(applied).toEqual([{ name: 'Migration20261122000000-init' }]);
  });
});
