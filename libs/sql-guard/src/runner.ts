import { connect as netConnect } from 'node:net';
import pg from 'pg';
import { checkReadOnlySql } from './check.ts';
import { SqlQueryError } from './errors.ts';
import { jsonSafeTypes, toJsonSafe } from './json-safe.ts';

export interface ReadOnlyQueryOptions {
  /** rows returned at most (default 1,000); one more is fetched to tell `truncated` */
  readonly maxRows?: number;
  /** statement, lock and idle timeout, and the bound on the whole call (default 30 s) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** builds the client (tests, custom TLS); default `new pg.Client(config)` */
  readonly connect?: (config: pg.ClientConfig) => pg.Client;
}

export interface ReadOnlyQueryResult {
  /** column names in order; a repeated name gets a suffix (`id`, `id_2`) so rows keep every column */
  readonly columns: string[];
  readonly rows: Record<string, unknown>[];
  readonly rowCount: number;
  readonly truncated: boolean;
  /** e.g. the datasource role can write: it should be a read-only role */
  readonly warnings: string[];
}

const CURSOR = 'csda_read_only';

// One catalog query: can the connected role write anything here?
const WRITE_PROBE = `
SELECT r.rolsuper AS superuser,
  EXISTS (SELECT 1 FROM pg_roles w WHERE w.rolname = 'pg_write_all_data' AND pg_has_role(current_user, w.oid, 'MEMBER')) AS write_all_data,
  has_database_privilege(current_database(), 'CREATE') AS create_schema_in_db,
  (SELECT n.nspname FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
      AND has_schema_privilege(n.oid, 'CREATE') LIMIT 1) AS create_schema,
  (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
      AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') LIMIT 1) AS writable_table
FROM pg_roles r WHERE r.rolname = current_user`;

/**
 * Runs one read-only query against the PostgreSQL at `url`, in layers: the
 * parser check (`checkReadOnlySql`), then `BEGIN READ ONLY` with
 * `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`
 * set locally, then a `NO SCROLL` cursor fetching `maxRows + 1` rows; always
 * rolled back, and the connection closed. Uses the extended protocol, so
 * the server itself refuses a second statement. Adds a warning when the
 * connected role could write.
 *
 * @throws SqlRefusedError from the guard, SqlQueryError from the database
 *   (message never contains the URL or password).
 */
export async function runReadOnlyQuery(url: string, sql: string, params: unknown[], opts: ReadOnlyQueryOptions = {}): Promise<ReadOnlyQueryResult> {
  const { statement } = checkReadOnlySql(sql);
  return executeReadOnly(url, statement, params, opts);
}

/**
 * The database layers of `runReadOnlyQuery` without the parser check.
 * Exported for tests that show those layers hold on their own; not part of
 * the package's public API.
 */
export async function executeReadOnly(url: string, statement: string, params: unknown[], opts: ReadOnlyQueryOptions = {}): Promise<ReadOnlyQueryResult> {
  const maxRows = opts.maxRows ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError('maxRows must be a positive integer');
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError('timeoutMs must be a positive integer');
  const secrets = secretsOf(url);
  const scrub = (msg: string) => secrets.reduce((m, s) => (s ? m.split(s).join('[REDACTED]') : m), msg);
  if (opts.signal?.aborted) throw new SqlQueryError('SQL_CANCELLED', 'the query was cancelled before it started');

  const config: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: Math.min(timeoutMs, 10_000),
    application_name: 'csda-sql-tool',
    types: jsonSafeTypes,
  };
  const connect = opts.connect ?? ((c: pg.ClientConfig) => new pg.Client(c));
  let client: pg.Client;
  try {
    client = connect(config);
  } catch (err) {
    throw new SqlQueryError('SQL_CONNECT', `the datasource URL is not usable: ${scrub(messageOf(err))}`);
  }
  client.on('error', () => {}); // a dropped connection surfaces through the pending query

  let cancelled = false;
  let timedOut = false;
  const cancel = () => {
    sendCancelRequest(client);
    // If the cancel request does not land quickly, drop the connection.
    setTimeout(() => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy(), 1000).unref();
  };
  const onAbort = () => {
    cancelled = true;
    cancel();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // The server enforces the timeouts; this bound is for a server that does not answer.
  const wall = setTimeout(() => {
    timedOut = true;
    cancel();
  }, timeoutMs + 2_000);
  wall.unref();

  const fail = (err: unknown): SqlQueryError => {
    if (err instanceof SqlQueryError) return err;
    const e = err as { code?: string; message?: string };
    if (cancelled) return new SqlQueryError('SQL_CANCELLED', 'the query was cancelled');
    if (e.code === '57014' || timedOut) return new SqlQueryError('SQL_TIMEOUT', `the query ran longer than ${formatMs(timeoutMs)} and was stopped`, e.code);
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return new SqlQueryError('SQL_FAILED', scrub(messageOf(err)), e.code);
    return new SqlQueryError('SQL_FAILED', scrub(messageOf(err)));
  };

  try {
    try {
      await client.connect();
    } catch (err) {
      if (cancelled) throw new SqlQueryError('SQL_CANCELLED', 'the query was cancelled');
      const e = err as { code?: string };
      throw new SqlQueryError('SQL_CONNECT', `could not connect to the datasource: ${scrub(messageOf(err))}`, e.code);
    }
    const run = (text: string, values: unknown[] = []) => client.query({ text, values, queryMode: 'extended', rowMode: 'array' } as pg.QueryConfig);
    try {
      await run('BEGIN TRANSACTION READ ONLY');
      await run(`SET LOCAL statement_timeout = ${timeoutMs}`);
      await run(`SET LOCAL lock_timeout = ${timeoutMs}`);
      await run(`SET LOCAL idle_in_transaction_session_timeout = ${timeoutMs + 5_000}`);
      const warnings = await probeWrites(client);
      await run(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${statement}`, params);
      const res = await run(`FETCH FORWARD ${maxRows + 1} FROM ${CURSOR}`);
      const columns = uniqueNames(res.fields.map((f) => f.name));
      const truncated = res.rows.length > maxRows;
      const rows = (res.rows as unknown[][]).slice(0, maxRows).map((r) => {
        const o: Record<string, unknown> = {};
        columns.forEach((c, i) => (o[c] = toJsonSafe(r[i])));
        return o;
      });
      return { columns, rows, rowCount: rows.length, truncated, warnings };
    } catch (err) {
      throw fail(err);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
    }
  } finally {
    clearTimeout(wall);
    opts.signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

/**
 * PostgreSQL's CancelRequest (a separate 16-byte message on a new connection
 * with the backend's pid and key), so the server stops the running statement
 * rather than running on after the client gives up.
 */
function sendCancelRequest(client: pg.Client): void {
  const c = client as unknown as { processID: number | null; secretKey: number | null; host?: string; port?: number };
  if (c.processID === null || c.secretKey === null || !c.host || !c.port) return;
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(c.processID, 8);
  packet.writeInt32BE(c.secretKey, 12);
  const socket = c.host.startsWith('/') ? netConnect({ path: `${c.host}/.s.PGSQL.${c.port}` }) : netConnect({ host: c.host, port: c.port });
  socket.setTimeout(5000, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('connect', () => socket.end(packet));
}

/** The write-role warning; a probe that fails (old server, odd catalog) costs a warning, not the query. */
async function probeWrites(client: pg.Client): Promise<string[]> {
  await client.query('SAVEPOINT csda_probe');
  try {
    const probe = await client.query({ text: WRITE_PROBE, queryMode: 'extended' } as pg.QueryConfig);
    await client.query('RELEASE SAVEPOINT csda_probe');
    return writeWarnings(probe.rows[0] as Record<string, unknown> | undefined);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '57014' || !code) throw err; // cancelled or connection lost: not a probe problem
    await client.query('ROLLBACK TO SAVEPOINT csda_probe');
    return [`could not check whether the datasource role can write (${messageOf(err)}); use a read-only role`];
  }
}

function writeWarnings(row: Record<string, unknown> | undefined): string[] {
  if (!row) return [];
  const prefix = 'the datasource role can write';
  const advice = 'use a read-only role (pg_read_all_data or SELECT-only grants)';
  if (row.superuser) return [`${prefix}: it is a superuser; ${advice}`];
  const why: string[] = [];
  if (row.write_all_data) why.push('it is a member of pg_write_all_data');
  if (row.writable_table) why.push(`it can modify ${String(row.writable_table)}${row.write_all_data ? '' : ' (and maybe more tables)'}`);
  if (row.create_schema) why.push(`it can create objects in schema ${String(row.create_schema)}`);
  if (row.create_schema_in_db) why.push('it can create schemas in this database');
  return why.length ? [`${prefix}: ${why.join('; ')}; ${advice}`] : [];
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    let name = count === 1 ? n : `${n}_${count}`;
    while (count > 1 && seen.has(name)) name = `${name}_`;
    if (count > 1) seen.set(name, 1);
    return name;
  });
}

function secretsOf(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    if (u.password) out.push(u.password, decodeURIComponent(u.password));
    const pw = u.searchParams.get('password');
    if (pw) out.push(pw);
  } catch {
    // not a URL; the whole string is hidden
  }
  return out.filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
