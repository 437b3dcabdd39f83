import { randomBytes } from 'node:crypto';
import { adminUrl, createTestDatabase, freePort, query, urlAs, type TestDatabase } from '@csda/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReadOnlyQuery, SqlQueryError, SqlRefusedError } from '../src/index.ts';
import { executeReadOnly } from '../src/runner.ts';

async function failure(p: Promise<unknown>): Promise<SqlQueryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SqlQueryError);
  return err as SqlQueryError;
}

/** runReadOnlyQuery against this machine's PostgreSQL, as three roles: superuser, writer, pg_read_all_data reader. */
describe('runReadOnlyQuery', () => {
  const suffix = randomBytes(4).toString('hex');
  const reader = `csda_sg_reader_${suffix}`;
  const writer = `csda_sg_writer_${suffix}`;
  let db: TestDatabase;
  let readerUrl: string;
  let writerUrl: string;
  const count = async () => Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM items'))[0]!.n);

  beforeAll(async () => {
    db = await createTestDatabase('sqlguard');
    await query(db.url, `
      CREATE TABLE items (id int PRIMARY KEY, n bigint, amount numeric, b bytea, d date, ts timestamptz, t timestamp, f float8, j jsonb, tags text[]);
      INSERT INTO items SELECT g, g::bigint * 10000000000, g / 3.0, int4send(g), date '2026-01-01' + g, timestamptz '2026-01-01 00:00:00.123456+00' + g * interval '1 hour',
        timestamp '2026-01-01 12:00:00', g / 2.0, jsonb_build_object('g', g), ARRAY['a', g::text] FROM generate_series(1, 2500) g;
      CREATE FUNCTION write_one() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO items (id) VALUES (-1) RETURNING id';
      CREATE ROLE ${reader} LOGIN; GRANT pg_read_all_data TO ${reader};
      CREATE ROLE ${writer} LOGIN; GRANT SELECT, INSERT ON items TO ${writer};
    `);
    readerUrl = urlAs(db.url, reader);
    writerUrl = urlAs(db.url, writer);
  });

  afterAll(async () => {
    await db?.drop();
    await query(adminUrl(), `DROP ROLE IF EXISTS ${reader}; DROP ROLE IF EXISTS ${writer}`);
  });

  it('returns JSON-safe rows with params, and no warning for a pg_read_all_data role', async () => {
    const res = await runReadOnlyQuery(readerUrl, 'SELECT id, n, amount, b, d, ts, t, f, j, tags, id AS id FROM items WHERE id = $1 OR id = $2 ORDER BY id', [1, '2']);
    expect(res.columns).toEqual(['id', 'n', 'amount', 'b', 'd', 'ts', 't', 'f', 'j', 'tags', 'id_2']);
    expect(res.rowCount).toBe(2);
    expect(res.truncated).toBe(false);
    expect(res.warnings).toEqual([]);
    expect(res.rows[0]).toEqual({
      id: 1,
      n: '10000000000',
      amount: '0.33333333333333333333',
      b: Buffer.from([0, 0, 0, 1]).toString('base64'),
      d: '2026-01-02',
      ts: expect.stringMatching(/^2026-01-01T\d\d:\d\d:00\.123456[+-]\d\d:\d\d$/),
      t: '2026-01-01T12:00:00',
      f: 0.5,
      j: { g: 1 },
      tags: ['a', '1'],
      id_2: 1,
    });
    expect(Date.parse(String(res.rows[0]!.ts))).toBe(Date.parse('2026-01-01T01:00:00.123Z'));
    expect(JSON.parse(JSON.stringify(res.rows))).toEqual(res.rows);
  });

  it('arrays of dates, timestamps and bytea keep the same JSON-safe forms', async () => {
    const res = await runReadOnlyQuery(
      db.url,
      "SELECT ARRAY[date '2026-03-04', NULL] AS ds, ARRAY[timestamp '2026-03-04 05:06:07.891011'] AS ts, ARRAY['\\x0102'::bytea] AS bs, ARRAY[interval '1 day'] AS iv, 12345678901234567890::numeric AS big",
      [],
    );
    expect(res.rows).toEqual([{ ds: ['2026-03-04', null], ts: ['2026-03-04T05:06:07.891011'], bs: ['AQI='], iv: ['1 day'], big: '12345678901234567890' }]);
  });

  it('VALUES, CTEs and non-finite floats', async () => {
    const res = await runReadOnlyQuery(db.url, "WITH x AS (VALUES (1, 'a'), (2, 'b')) SELECT column1 AS k, 'NaN'::float8 AS nan FROM x ORDER BY 1", []);
    expect(res.rows).toEqual([
      { k: 1, nan: 'NaN' },
      { k: 2, nan: 'NaN' },
    ]);
  });

  it('cuts at maxRows and says so', async () => {
    const cut = await runReadOnlyQuery(readerUrl, 'SELECT id FROM items ORDER BY id', [], { maxRows: 1000 });
    expect(cut.rowCount).toBe(1000);
    expect(cut.truncated).toBe(true);
    expect(cut.rows.at(-1)).toEqual({ id: 1000 });
    const def = await runReadOnlyQuery(readerUrl, 'SELECT id FROM items', []);
    expect(def.rowCount).toBe(1000);
    expect(def.truncated).toBe(true);
    const all = await runReadOnlyQuery(readerUrl, 'SELECT id FROM items', [], { maxRows: 2500 });
    expect(all.rowCount).toBe(2500);
    expect(all.truncated).toBe(false);
  });

  it('stops a statement at the timeout', async () => {
    const t0 = Date.now();
    const err = await failure(runReadOnlyQuery(readerUrl, 'SELECT count(*) FROM generate_series(1, 1000000000)', [], { timeoutMs: 300 }));
    expect(err.code).toBe('SQL_TIMEOUT');
    expect(err.message).toBe('the query ran longer than 300 ms and was stopped');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('cancels on the signal, server-side too', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 300);
    const err = await failure(runReadOnlyQuery(readerUrl, 'SELECT count(*) FROM generate_series(1, 1000000000)', [], { timeoutMs: 60_000, signal: ac.signal }));
    expect(err.code).toBe('SQL_CANCELLED');
    expect(Date.now() - t0).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 300));
    const running = await query(db.url, "SELECT pid FROM pg_stat_activity WHERE application_name = 'csda-sql-tool' AND datname = current_database() AND state = 'active'");
    expect(running).toEqual([]);
    const pre = new AbortController();
    pre.abort();
    expect((await failure(runReadOnlyQuery(readerUrl, 'SELECT 1', [], { signal: pre.signal }))).code).toBe('SQL_CANCELLED');
  });

  it('warns when the role can write: superuser, table grants', async () => {
    const su = await runReadOnlyQuery(db.url, 'SELECT 1 AS one', []);
    expect(su.warnings).toEqual([expect.stringMatching(/^the datasource role can write: it is a superuser; use a read-only role/)]);
    const w = await runReadOnlyQuery(writerUrl, 'SELECT 1 AS one', []);
    expect(w.warnings).toEqual([expect.stringMatching(/^the datasource role can write: it can modify public\.items/)]);
  });

  it('a failing privilege probe costs a warning, not the query', async () => {
    const connect = (c: pg.ClientConfig) => {
      const client = new pg.Client(c);
      const orig = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as unknown as { query: (...a: unknown[]) => unknown }).query = (cfg: unknown, ...rest: unknown[]) => {
        const text = typeof cfg === 'string' ? cfg : (cfg as { text: string }).text;
        return orig(text.includes('rolsuper') ? { text: 'SELECT 1 / 0' } : cfg, ...rest);
      };
      return client;
    };
    const res = await runReadOnlyQuery(readerUrl, 'SELECT id FROM items ORDER BY id LIMIT 1', [], { connect });
    expect(res.rows).toEqual([{ id: 1 }]);
    expect(res.warnings).toEqual(['could not check whether the datasource role can write (division by zero); use a read-only role']);
  });

  it('refuses through the guard before connecting', async () => {
    let connects = 0;
    const connect = (c: pg.ClientConfig) => {
      connects++;
      return new pg.Client(c);
    };
    for (const sql of ['DELETE FROM items', 'SELECT 1; DELETE FROM items', 'SET ROLE postgres', "COPY items TO PROGRAM 'id'", 'CALL p()', 'DO $$BEGIN END$$', 'WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d', 'SELECT * FROM items FOR UPDATE', 'select pg_advisory_lock(1)']) {
      await expect(runReadOnlyQuery(db.url, sql, [], { connect })).rejects.toBeInstanceOf(SqlRefusedError);
    }
    expect(connects).toBe(0);
    expect(await count()).toBe(2500);
  });

  describe('the database layers hold without the parser check', () => {
    it.each([
      ['a DELETE (DECLARE accepts only a query)', 'DELETE FROM items', /syntax error/],
      ['two statements (extended protocol)', 'SELECT 1; DELETE FROM items', /cannot insert multiple commands into a prepared statement/],
      ['a writable CTE', 'WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d', /DECLARE CURSOR must not contain data-modifying statements in WITH/],
      ['a write inside a function', 'SELECT write_one()', /cannot execute INSERT in a read-only transaction/],
      ['SELECT … FOR UPDATE', 'SELECT * FROM items FOR UPDATE', /cannot execute SELECT FOR UPDATE in a read-only transaction/],
      ['SELECT … INTO', 'SELECT * INTO copied FROM items', /syntax error|INTO/],
      ['nextval on a new sequence', "SELECT nextval('items_seq')", /does not exist|read-only transaction/],
    ])('%s', async (_what, sql, message) => {
      const err = await failure(executeReadOnly(db.url, sql, []));
      expect(err.code).toBe('SQL_FAILED');
      expect(err.message).toMatch(message);
      expect(err.sqlstate).toMatch(/^[0-9A-Z]{5}$/);
      expect(await count()).toBe(2500);
    });

    it('but pg_advisory_lock goes through READ ONLY: the parser layer is load-bearing', async () => {
      const res = await executeReadOnly(readerUrl, 'SELECT pg_advisory_lock(4242) IS NULL AS locked', []);
      expect(res.rows).toEqual([{ locked: false }]);
    });
  });

  it('runs BEGIN READ ONLY, the local timeouts, a cursor in the extended protocol, and always ROLLBACK', async () => {
    const seen: Array<{ text: string; mode: unknown }> = [];
    const connect = (c: pg.ClientConfig) => {
      const client = new pg.Client(c);
      const orig = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as unknown as { query: (...a: unknown[]) => unknown }).query = (cfg: unknown, ...rest: unknown[]) => {
        const q = typeof cfg === 'string' ? { text: cfg } : (cfg as { text: string; queryMode?: unknown });
        seen.push({ text: q.text.trim().split(/\s+/).slice(0, 3).join(' '), mode: (q as { queryMode?: unknown }).queryMode });
        return orig(cfg, ...rest);
      };
      return client;
    };
    await runReadOnlyQuery(readerUrl, 'SELECT id FROM items LIMIT 2', [], { connect, timeoutMs: 1500 });
    await failure(runReadOnlyQuery(readerUrl, 'SELECT * FROM missing_table', [], { connect }));
    const texts = seen.map((s) => s.text);
    expect(texts.slice(0, 10)).toEqual([
      'BEGIN TRANSACTION READ',
      'SET LOCAL statement_timeout',
      'SET LOCAL lock_timeout',
      'SET LOCAL idle_in_transaction_session_timeout',
      'SAVEPOINT csda_probe',
      'SELECT r.rolsuper AS',
      'RELEASE SAVEPOINT csda_probe',
      'DECLARE csda_read_only NO',
      'FETCH FORWARD 1001',
      'ROLLBACK',
    ]);
    expect(texts.slice(10)).toContain('ROLLBACK');
    expect(texts.at(-1)).toBe('ROLLBACK');
    expect(seen.filter((s) => s.text.startsWith('DECLARE')).every((s) => s.mode === 'extended')).toBe(true);
  });

  it('reports database errors readably and never the URL or password', async () => {
    const missing = await failure(runReadOnlyQuery(readerUrl, 'SELECT * FROM nope', []));
    expect(missing.message).toBe('relation "nope" does not exist');
    expect(missing.sqlstate).toBe('42P01');

    const port = await freePort();
    const secretUrl = `postgres://someone:hunter2-secret@127.0.0.1:${port}/db`;
    const refused = await failure(runReadOnlyQuery(secretUrl, 'SELECT 1', []));
    expect(refused.code).toBe('SQL_CONNECT');
    expect(refused.message).toMatch(/^could not connect to the datasource: /);
    expect(refused.message).not.toContain('hunter2');

    const leaky = () => {
      throw new Error(`cannot use ${secretUrl} (password hunter2-secret)`);
    };
    const scrubbed = await failure(runReadOnlyQuery(secretUrl, 'SELECT 1', [], { connect: leaky }));
    expect(scrubbed.message).not.toContain('hunter2');
    expect(scrubbed.message).toContain('[REDACTED]');

    const noDb = await failure(runReadOnlyQuery(urlAs(db.url, reader).replace(/\/[^/]*$/, '/csda_no_such_db'), 'SELECT 1', []));
    expect(noDb.code).toBe('SQL_CONNECT');
    expect(noDb.message).toMatch(/database "csda_no_such_db" does not exist/);
  });
});
