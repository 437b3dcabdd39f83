import { createTestDatabase, query, type TestDatabase } from '@csda/testing';
import { Migration } from '@mikro-orm/migrations';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { assertConnected, migrate, openDatabase, schemaStatus, type MigrationObject } from '../src/database.ts';

class CreateThings extends Migration {
  override up(): void {
    this.addSql('create table "tools"."things" ("id" serial primary key, "name" text not null)');
  }
}

class AddColour extends Migration {
  override up(): void {
    this.addSql('alter table "tools"."things" add column "colour" text');
  }
}

const first: MigrationObject[] = [{ name: 'Migration1-things', class: CreateThings }];
const both: MigrationObject[] = [...first, { name: 'Migration2-colour', class: AddColour }];
const logger = createLogger({ service: 'test', level: 'silent' });

describe('database (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('kit_db');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const open = (migrations: MigrationObject[]) => openDatabase({ url: db.url, schema: 'tools', entities: [], migrations, logger });

  it('applies migrations into the service schema and reports the schema version', async () => {
    const orm = await open(first);
    try {
      await assertConnected(orm);
      expect((await schemaStatus(orm)).current).toBe(false);
      expect(await migrate(orm, db.url, 'tools')).toEqual(['Migration1-things']);
      expect(await schemaStatus(orm)).toEqual({ version: 'Migration1-things', pending: [], current: true });
      const tables = await query(db.url, `select table_schema, table_name from information_schema.tables where table_schema = 'tools' order by 1, 2`);
      expect(tables.map((t) => t.table_name)).toEqual(['mikro_orm_migrations', 'things']);
    } finally {
      await orm.close();
    }
  });

  it('reports a schema behind the code as not current until migrate runs', async () => {
    const orm = await open(both);
    try {
      await assertConnected(orm);
      expect(await schemaStatus(orm)).toEqual({ version: 'Migration1-things', pending: ['Migration2-colour'], current: false });
      expect(await migrate(orm, db.url, 'tools')).toEqual(['Migration2-colour']);
      expect(await migrate(orm, db.url, 'tools')).toEqual([]);
      expect((await schemaStatus(orm)).current).toBe(true);
    } finally {
      await orm.close();
    }
  });

  it('serializes concurrent migrate runs instead of racing', async () => {
    const other = await createTestDatabase('kit_race');
    const a = await openDatabase({ url: other.url, schema: 'tools', entities: [], migrations: both, logger });
    const b = await openDatabase({ url: other.url, schema: 'tools', entities: [], migrations: both, logger });
    try {
      const [ra, rb] = await Promise.all([migrate(a, other.url, 'tools'), migrate(b, other.url, 'tools')]);
      expect([...ra, ...rb].sort()).toEqual(['Migration1-things', 'Migration2-colour']);
      const rows = await query(other.url, 'select name from "tools"."mikro_orm_migrations"');
      expect(rows).toHaveLength(2);
    } finally {
      await a.close();
      await b.close();
      await other.drop();
    }
  });

  it('fails to connect with a clear reason when the server is not there', async () => {
    const orm = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', schema: 'tools', entities: [], migrations: [], logger });
    try {
      await expect(assertConnected(orm)).rejects.toThrow();
    } finally {
      await orm.close(true);
    }
  });
});
