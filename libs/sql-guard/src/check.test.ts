import { describe, expect, it } from 'vitest';
import { checkReadOnlySql, SqlRefusedError } from './index.ts';

function refusal(sql: string): SqlRefusedError {
  try {
    checkReadOnlySql(sql);
  } catch (err) {
    if (err instanceof SqlRefusedError) return err;
    throw err;
  }
  throw new Error(`accepted: ${sql}`);
}

describe('checkReadOnlySql refuses every non-read statement, naming its kind', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['INSERT INTO t VALUES (1)', 'INSERT', /^statement 1 is an INSERT: only SELECT is allowed$/],
    ['UPDATE t SET a = 1', 'UPDATE', /is an UPDATE/],
    ['DELETE FROM t', 'DELETE', /is a DELETE/],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'MERGE', /is a MERGE/],
    ['TRUNCATE t', 'TRUNCATE', /is a TRUNCATE/],
    ['COPY t TO STDOUT', 'COPY TO', /is a COPY TO/],
    ["COPY t FROM PROGRAM 'id'", 'COPY FROM PROGRAM', /is a COPY FROM PROGRAM/],
    ["COPY (SELECT 1) TO PROGRAM 'sh -c id'", 'COPY TO PROGRAM', /is a COPY TO PROGRAM/],
    ['CALL p(1)', 'CALL', /is a CALL/],
    ["DO $$BEGIN PERFORM 1; END$$", 'DO', /is a DO/],
    ['SET search_path = evil', 'SET', /is a SET/],
    ['SET ROLE postgres', 'SET ROLE', /is a SET ROLE/],
    ['SET SESSION AUTHORIZATION postgres', 'SET SESSION AUTHORIZATION', /SET SESSION AUTHORIZATION/],
    ['RESET ALL', 'RESET', /is a RESET/],
    ['CREATE TABLE x (a int)', 'CREATE TABLE', /is a CREATE TABLE/],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$select 1$$', 'CREATE FUNCTION', /CREATE FUNCTION/],
    ['ALTER TABLE t ADD COLUMN b int', 'ALTER TABLE', /is an ALTER TABLE/],
    ['DROP TABLE t', 'DROP TABLE', /is a DROP TABLE/],
    ['DROP SCHEMA s CASCADE', 'DROP SCHEMA', /DROP SCHEMA/],
    ['GRANT SELECT ON t TO PUBLIC', 'GRANT', /is a GRANT/],
    ['REVOKE SELECT ON t FROM PUBLIC', 'REVOKE', /is a REVOKE/],
    ['VACUUM t', 'VACUUM', /is a VACUUM/],
    ['ANALYZE t', 'ANALYZE', /is an ANALYZE/],
    ['LISTEN ch', 'LISTEN', /is a LISTEN/],
    ["NOTIFY ch, 'x'", 'NOTIFY', /is a NOTIFY/],
    ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'LOCK', /is a LOCK/],
    ['PREPARE q AS DELETE FROM t', 'PREPARE', /is a PREPARE/],
    ['EXECUTE q', 'EXECUTE', /is an EXECUTE/],
    ['DECLARE c CURSOR FOR SELECT 1', 'DECLARE CURSOR', /is a DECLARE CURSOR/],
    ['EXPLAIN ANALYZE DELETE FROM t', 'EXPLAIN ANALYZE', /is an EXPLAIN ANALYZE/],
    ['EXPLAIN (ANALYZE true) SELECT 1', 'EXPLAIN ANALYZE', /EXPLAIN ANALYZE/],
    ['EXPLAIN SELECT 1', 'EXPLAIN', /is an EXPLAIN:/],
    ['BEGIN', 'BEGIN', /is a BEGIN/],
    ['COMMIT', 'COMMIT', /is a COMMIT/],
    ['SHOW ALL', 'SHOW', /is a SHOW/],
    ['CREATE TABLE x AS SELECT 1', 'CREATE TABLE AS', /CREATE TABLE AS/],
    ['REFRESH MATERIALIZED VIEW m', 'REFRESH MATERIALIZED VIEW', /REFRESH MATERIALIZED VIEW/],
    ['CHECKPOINT', 'CHECKPOINT', /CHECKPOINT/],
    ["ALTER SYSTEM SET work_mem = '1GB'", 'ALTER SYSTEM', /ALTER SYSTEM/],
    ['DISCARD ALL', 'DISCARD', /DISCARD/],
    ["LOAD 'x'", 'LOAD', /LOAD/],
  ];
  it.each(cases)('%s', (sql, kind, message) => {
    const err = refusal(sql);
    expect(err.code).toBe('SQL_REFUSED');
    expect(err.kind).toBe(kind);
    expect(err.message).toMatch(message);
  });
});

describe('checkReadOnlySql refuses unsafe SELECTs', () => {
  it('two statements, whatever they are', () => {
    expect(refusal('SELECT 1; DELETE FROM t').message).toBe('2 statements: only one is allowed');
    expect(refusal('SELECT 1; SELECT 2').kind).toBe('multiple statements');
    expect(refusal('select 1;;select 2;').message).toMatch(/^2 statements/);
  });
  it('empty input and parse errors', () => {
    for (const sql of ['', '   ', ';', '-- only a comment', '/* c */ ;']) expect(refusal(sql).kind).toBe('empty');
    const err = refusal('SELEC 1');
    expect(err.kind).toBe('syntax error');
    expect(err.message).toMatch(/does not parse: syntax error at or near "SELEC"/);
    expect(refusal("SELECT 'unterminated").kind).toBe('syntax error');
  });
  it('deep nesting and huge input are refused or checked, never a crash', () => {
    const deep = 'SELECT ' + '(SELECT '.repeat(1000) + 'pg_sleep(1)' + ')'.repeat(1000);
    expect(refusal(deep).kind).toBe('function pg_sleep');
    expect(checkReadOnlySql('SELECT ' + '(SELECT '.repeat(1000) + '1' + ')'.repeat(1000)).statementKind).toBe('SELECT');
    expect(refusal('SELECT ' + '('.repeat(100_000) + '1' + ')'.repeat(100_000)).message).toBe('the query is nested too deeply to check');
    expect(refusal('SELECT ' + Array(50_000).fill('1').join('+')).kind).toBe('too complex');
    expect(refusal(`SELECT '${'x'.repeat(1024 * 1024)}'`).kind).toBe('too long');
    expect(checkReadOnlySql('SELECT 1').statementKind).toBe('SELECT');
  });

  it('reports the first denied function in the text', () => {
    expect(refusal('SELECT pg_notify(\'a\', \'b\'), (SELECT pg_sleep(1)), nextval(\'s\')').kind).toBe('function pg_notify');
    expect(refusal('SELECT nextval(\'s\') FROM t ORDER BY pg_sleep(1)').kind).toBe('function nextval');
  });

  it('SELECT … INTO', () => {
    const err = refusal('SELECT 1 AS a INTO new_table');
    expect(err.kind).toBe('SELECT INTO');
    expect(err.message).toBe('SELECT … INTO creates a table: not allowed');
  });
  it.each([
    ['SELECT * FROM t FOR UPDATE', 'FOR UPDATE'],
    ['SELECT * FROM t FOR NO KEY UPDATE', 'FOR NO KEY UPDATE'],
    ['SELECT * FROM t FOR SHARE SKIP LOCKED', 'FOR SHARE'],
    ['SELECT * FROM t FOR KEY SHARE NOWAIT', 'FOR KEY SHARE'],
    ['SELECT * FROM (SELECT * FROM t FOR UPDATE) s', 'FOR UPDATE'],
    ['SELECT (SELECT a FROM t LIMIT 1 FOR UPDATE)', 'FOR UPDATE'],
    ['WITH x AS (SELECT * FROM t FOR SHARE) SELECT * FROM x', 'FOR SHARE'],
    ['SELECT 1 UNION SELECT a FROM t FOR UPDATE', 'FOR UPDATE'],
    ['SELECT * FROM t WHERE a IN (SELECT a FROM u FOR UPDATE)', 'FOR UPDATE'],
  ])('locking clause: %s', (sql, kind) => {
    const err = refusal(sql);
    expect(err.kind).toBe(kind);
    expect(err.message).toBe(`SELECT … ${kind} locks rows: not allowed`);
  });
  it.each([
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', /WITH query "d" is a DELETE/],
    ['WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1', /WITH query "i" is an INSERT/],
    ['WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM u', /WITH query "u" is an UPDATE/],
    ['WITH m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *) SELECT 1', /WITH query "m" is a MERGE/],
    ['SELECT * FROM (WITH d AS (DELETE FROM t RETURNING a) SELECT a FROM d) s', /WITH query "d" is a DELETE/],
    ['SELECT (WITH d AS (DELETE FROM t RETURNING a) SELECT a FROM d LIMIT 1)', /WITH query "d" is a DELETE/],
    ['WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM t RETURNING *) SELECT * FROM c) SELECT * FROM b', /WITH query "c" is a DELETE/],
    ['WITH RECURSIVE r AS (SELECT 1) , w AS (INSERT INTO t SELECT * FROM r RETURNING *) SELECT 1', /WITH query "w" is an INSERT/],
  ])('data-modifying CTE: %s', (sql, message) => {
    const err = refusal(sql);
    expect(err.kind).toBe('data-modifying CTE');
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/data-modifying WITH queries are not allowed$/);
  });
  it('a writable CTE inside an INSERT is refused as the INSERT', () => {
    expect(refusal('WITH d AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM d').kind).toBe('INSERT');
  });
});

describe('checkReadOnlySql: the function deny list', () => {
  const denied: Array<[string, string, RegExp]> = [
    ['SELECT pg_advisory_lock(1)', 'function pg_advisory_lock', /^calls pg_advisory_lock: not allowed \(takes an advisory lock\)$/],
    ['SELECT pg_try_advisory_xact_lock(1, 2)', 'function pg_try_advisory_xact_lock', /advisory lock/],
    ['SELECT pg_advisory_unlock_all()', 'function pg_advisory_unlock_all', /advisory lock/],
    ["SELECT set_config('search_path', 'evil', false)", 'function set_config', /session settings/],
    ['SELECT setseed(0.5)', 'function setseed', /session settings/],
    ['SELECT pg_sleep(100)', 'function pg_sleep', /sleeps/],
    ["SELECT pg_sleep_for('1 hour')", 'function pg_sleep_for', /sleeps/],
    ["SELECT pg_sleep_until('tomorrow')", 'function pg_sleep_until', /sleeps/],
    ['SELECT pg_catalog.pg_sleep(1)', 'function pg_sleep', /^calls pg_catalog\.pg_sleep: /],
    ['SELECT "PG_SLEEP"(1)', 'function pg_sleep', /calls PG_SLEEP/],
    ['SELECT "pg_catalog"."pg_sleep"(1)', 'function pg_sleep', /sleeps/],
    ['SELECT PG_SLEEP(1)', 'function pg_sleep', /sleeps/],
    ['SELECT evil.pg_sleep(1)', 'function pg_sleep', /sleeps/],
    ['SELECT lo_create(42)', 'function lo_create', /large objects/],
    ["SELECT lo_from_bytea(0, 'x')", 'function lo_from_bytea', /large objects/],
    ["SELECT lo_import('/etc/passwd')", 'function lo_import', /large objects/],
    ["SELECT lo_export(1, '/tmp/x')", 'function lo_export', /large objects/],
    ['SELECT loread(0, 10)', 'function loread', /large objects/],
    ["SELECT lowrite(0, 'x')", 'function lowrite', /large objects/],
    ["SELECT pg_read_file('/etc/passwd')", 'function pg_read_file', /server files/],
    ["SELECT pg_read_binary_file('x')", 'function pg_read_binary_file', /server files/],
    ["SELECT * FROM pg_ls_dir('.')", 'function pg_ls_dir', /server files/],
    ['SELECT * FROM pg_ls_waldir()', 'function pg_ls_waldir', /server files/],
    ["SELECT pg_stat_file('x')", 'function pg_stat_file', /server files/],
    ["SELECT pg_file_write('x', 'y', false)", 'function pg_file_write', /server files/],
    ["SELECT * FROM dblink('host=x', 'delete from t') AS t(a int)", 'function dblink', /another database/],
    ["SELECT dblink_exec('host=x', 'delete from t')", 'function dblink_exec', /another database/],
    ['SELECT pg_terminate_backend(1)', 'function pg_terminate_backend', /signals another server process/],
    ['SELECT pg_cancel_backend(1)', 'function pg_cancel_backend', /signals/],
    ['SELECT pg_log_backend_memory_contexts(1)', 'function pg_log_backend_memory_contexts', /signals/],
    ['SELECT pg_reload_conf()', 'function pg_reload_conf', /administers the server/],
    ['SELECT pg_rotate_logfile()', 'function pg_rotate_logfile', /administers/],
    ["SELECT pg_create_restore_point('x')", 'function pg_create_restore_point', /administers/],
    ['SELECT pg_switch_wal()', 'function pg_switch_wal', /administers/],
    ['SELECT pg_promote()', 'function pg_promote', /administers/],
    ["SELECT pg_backup_start('x')", 'function pg_backup_start', /administers/],
    ['SELECT pg_export_snapshot()', 'function pg_export_snapshot', /administers/],
    ["SELECT pg_create_logical_replication_slot('s', 'pgoutput')", 'function pg_create_logical_replication_slot', /replication slots/],
    ["SELECT pg_drop_replication_slot('s')", 'function pg_drop_replication_slot', /replication slots/],
    ["SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", 'function pg_logical_slot_get_changes', /replication slots/],
    ["SELECT pg_logical_emit_message(true, 'p', 'x')", 'function pg_logical_emit_message', /replication slots/],
    ['SELECT pg_stat_reset()', 'function pg_stat_reset', /statistics/],
    ['SELECT pg_stat_reset_shared(NULL)', 'function pg_stat_reset_shared', /statistics/],
    ['SELECT pg_stat_force_next_flush()', 'function pg_stat_force_next_flush', /statistics/],
    ["SELECT pg_notify('ch', 'x')", 'function pg_notify', /notification/],
    ["SELECT nextval('s')", 'function nextval', /sequence/],
    ["SELECT setval('s', 1)", 'function setval', /sequence/],
    ["SELECT currval('s')", 'function currval', /sequence/],
    ['SELECT lastval()', 'function lastval', /sequence/],
    ['SELECT txid_current()', 'function txid_current', /assigns a transaction id/],
    ['SELECT pg_current_xact_id()', 'function pg_current_xact_id', /assigns a transaction id/],
    ['SELECT txid_current_snapshot()', 'function txid_current_snapshot', /transaction-id state/],
    ["SELECT pg_xact_status('1')", 'function pg_xact_status', /transaction-id state/],
    ["SELECT query_to_xml('delete from t returning *', true, true, '')", 'function query_to_xml', /runs SQL given as text/],
    ["SELECT query_to_xml_and_xmlschema('select 1', true, true, '')", 'function query_to_xml_and_xmlschema', /SQL given as text/],
    ["SELECT cursor_to_xml('c', 1, true, true, '')", 'function cursor_to_xml', /SQL given as text/],
    ["SELECT table_to_xml('t', true, true, '')", 'function table_to_xml', /SQL given as text/],
    ["SELECT schema_to_xml('public', true, true, '')", 'function schema_to_xml', /SQL given as text/],
    ["SELECT database_to_xml(true, true, '')", 'function database_to_xml', /SQL given as text/],
    ["SELECT * FROM ts_stat('select v from t')", 'function ts_stat', /SQL given as text/],
    ["SELECT ts_rewrite('a'::tsquery, 'select t, s from aliases')", 'function ts_rewrite', /SQL given as text/],
    ["SELECT * FROM crosstab('select 1') AS c(a int)", 'function crosstab', /SQL given as text/],
  ];
  it.each(denied)('%s', (sql, kind, message) => {
    const err = refusal(sql);
    expect(err.kind).toBe(kind);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['in a CTE', 'WITH x AS (SELECT pg_advisory_lock(1)) SELECT * FROM x'],
    ['in ORDER BY', 'SELECT a FROM t ORDER BY pg_sleep(1)'],
    ['in a lateral join', 'SELECT * FROM t, LATERAL (SELECT pg_sleep(t.a)) s'],
    ['as a FROM item', 'SELECT * FROM pg_sleep(1)'],
    ['in ROWS FROM', 'SELECT * FROM ROWS FROM (generate_series(1, 2), pg_sleep(1))'],
    ['in WHERE', 'SELECT 1 WHERE pg_sleep(1) IS NULL'],
    ['in a scalar subquery', 'SELECT (SELECT pg_sleep(1))'],
    ['in EXISTS', 'SELECT EXISTS (SELECT pg_sleep(1))'],
    ['in a window', 'SELECT sum(a) OVER (ORDER BY pg_sleep(1)) FROM t'],
    ['in GROUP BY / HAVING', 'SELECT a FROM t GROUP BY a HAVING count(pg_sleep(1)) > 0'],
    ['in CASE', 'SELECT CASE WHEN false THEN pg_sleep(1) END'],
    ['as an argument', 'SELECT coalesce(null, pg_sleep(1))'],
    ['in a JOIN condition', 'SELECT * FROM t JOIN u ON pg_sleep(1) IS NULL'],
    ['in VALUES', 'VALUES (1), (pg_sleep(1))'],
    ['in LIMIT', 'SELECT 1 LIMIT (SELECT 1 FROM pg_sleep(1))'],
    ['in a UNION branch', 'SELECT 1 UNION ALL SELECT pg_sleep(1)::text::int'],
    ['in a FILTER', 'SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t'],
    ['in a recursive CTE', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE pg_sleep(0) IS NULL) SELECT * FROM r'],
    ['in an aggregate ORDER BY', 'SELECT string_agg(a::text, \',\' ORDER BY pg_sleep(1)) FROM t'],
    ['in a tablesample', 'SELECT * FROM t TABLESAMPLE system (pg_sleep(1)::text::float)'],
  ])('found anywhere in the tree: %s', (_where, sql) => {
    expect(refusal(sql).message).toMatch(/^calls pg_(sleep|advisory_lock): not allowed/);
  });

  it.each([
    ['unicode-escaped identifier', 'SELECT U&"pg_\\0073leep"(1)'],
    ['comments and spaces around the schema dot', 'SELECT pg_catalog . /* x */ pg_sleep(1)'],
    ['a newline inside the call', 'SELECT pg_sleep\n(1)'],
    ['a call hidden after a line comment line', 'SELECT 1 -- harmless\n, pg_sleep(1)'],
    ['a named-argument call', 'SELECT pg_sleep(seconds => 1)'],
    ['inside a function default in a column alias list', 'SELECT * FROM (SELECT 1) s(a) WHERE a = ANY (ARRAY[pg_sleep(1)::text::int])'],
  ])('sees through spelling tricks: %s', (_what, sql) => {
    expect(refusal(sql).kind).toBe('function pg_sleep');
  });

  it('a semicolon in a comment or string does not split, a real one does', () => {
    expect(checkReadOnlySql("SELECT ';DELETE FROM t' /* ; DROP TABLE t */").statementKind).toBe('SELECT');
    expect(checkReadOnlySql('SELECT $$;DELETE FROM t$$').statementKind).toBe('SELECT');
    expect(refusal('SELECT 1 -- x\n; DELETE FROM t').kind).toBe('multiple statements');
  });

  it('a more serious problem wins over a denied function', () => {
    expect(refusal('WITH d AS (DELETE FROM t RETURNING *) SELECT pg_sleep(1) FROM d').kind).toBe('data-modifying CTE');
    expect(refusal('SELECT pg_sleep(1) FROM t FOR UPDATE').kind).toBe('FOR UPDATE');
  });
});

describe('checkReadOnlySql accepts reads', () => {
  it.each([
    ['SELECT 1', 'SELECT'],
    ['select 1;', 'SELECT'],
    ['VALUES (1, 2), (3, 4)', 'VALUES'],
    ['TABLE t', 'SELECT'],
    ['SELECT a.id, b.name FROM a JOIN b ON b.a_id = a.id LEFT JOIN c USING (id) WHERE a.x > $1', 'SELECT'],
    ['SELECT id, row_number() OVER (PARTITION BY g ORDER BY id), lag(id) OVER w FROM t WINDOW w AS (ORDER BY id)', 'SELECT'],
    ['WITH x AS (SELECT 1 AS a), y AS MATERIALIZED (SELECT a FROM x) SELECT * FROM y', 'SELECT'],
    ['WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r', 'SELECT'],
    ['SELECT * FROM generate_series(1, 10) g', 'SELECT'],
    ['SELECT jsonb_build_object(\'a\', 1) -> \'a\', json_agg(t) FROM t', 'SELECT'],
    ["SELECT jsonb_path_query('{\"a\":[1,2]}', '$.a[*]')", 'SELECT'],
    ['SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 3) s', 'SELECT'],
    ['SELECT count(*) FILTER (WHERE a > 1), array_agg(DISTINCT b ORDER BY b) FROM t GROUP BY ROLLUP (c)', 'SELECT'],
    ['SELECT now(), current_setting(\'TimeZone\'), pg_backend_pid(), version()', 'SELECT'],
    ["SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)", 'SELECT'],
    ['SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4 ORDER BY 1 LIMIT 1 OFFSET 0', 'SELECT'],
    ["SELECT 'é' || $1::text -- a comment; DELETE", 'SELECT'],
    ['SELECT * FROM pg_stat_activity', 'SELECT'],
    ['SELECT lower(name) FROM "MixedCase"."Table"', 'SELECT'],
  ])('%s', (sql, kind) => {
    expect(checkReadOnlySql(sql).statementKind).toBe(kind);
  });

  it('returns the statement text without the trailing semicolon', () => {
    expect(checkReadOnlySql('  SELECT 1 ;  ').statement).toBe('SELECT 1');
    expect(checkReadOnlySql("SELECT 'é;' ;").statement).toBe("SELECT 'é;'");
  });
});
