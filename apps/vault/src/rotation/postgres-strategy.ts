import { randomBytes } from 'node:crypto';
import { ValidationError } from '@csda/errors';
import { EgressRefusedError, ResolutionError, resolveChecked } from '@csda/net';
import { scramSha256Verifier } from '@csda/service-kit';
import pg from 'pg';
import { tlsFor, type PostgresEgress, type SslMode } from './postgres-target.ts';

export type { PostgresEgress } from './postgres-target.ts';

/*
 * The `postgres` rotation strategy's contact with PostgreSQL: parse a
 * secret's connection URL, set a role's password, test a login. The rotation
 * engine decides when (pending → apply → test → promote); nothing here keeps
 * state. No password ever leaves this module in a message: errors name the
 * user, host and port, never the URL or the password. Every connection goes
 * through the egress guard (postgres-target.ts): the host is resolved once,
 * each address checked against the operator's allow list, and the client
 * connects to a checked address, not to the name.
 */

export interface PostgresCredentials {
  readonly url: URL;
  readonly user: string;
  readonly password: string;
  readonly host: string;
  readonly port: number;
  /** The database to connect to; the user name when the URL has no path (libpq's default). */
  readonly database: string;
  readonly sslmode: SslMode;
}

const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const satisfies readonly SslMode[];
/** Query parameters a secret's URL may carry; anything else (`host=/socket`, `sslcert=/file`, `options=…`) is refused. */
const ALLOWED_PARAMS = new Set(['sslmode', 'application_name']);
const HOST = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/;
const MAX_URL_LENGTH = 4096;
const MAX_PASSWORD_LENGTH = 1024;
/** PostgreSQL truncates longer identifiers (NAMEDATALEN 64), which would alter a different role. */
const MAX_ROLE_BYTES = 63;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Reads a `postgres://` / `postgresql://` URL with user, password and host.
 * A ValidationError names `field` and says what is wrong, never echoing the
 * value. TLS per `sslmode` (libpq's meaning): `disable` (default, as
 * node-postgres), `require` (encrypted, unverified), `verify-ca`, `verify-full`.
 */
export function parsePostgresUrl(value: string, field = 'value'): PostgresCredentials {
  const invalid = (reason: string) => new ValidationError(`${field} ${reason}`, { [field]: reason });
  const shape = 'must be a postgres:// or postgresql:// URL with a user, a password and a host';
  if (typeof value !== 'string' || value.length === 0) throw invalid(shape);
  if (value.length > MAX_URL_LENGTH) throw invalid(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(shape);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw invalid(shape);
  if (url.hash !== '') throw invalid('must not contain a fragment (percent-encode # in the password)');
  if (url.hostname === '' || !HOST.test(url.hostname)) throw invalid('must name a host name or IP address (no unix socket paths)');
  const port = url.port === '' ? 5432 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('must have a port between 1 and 65535');
  const decode = (part: string, what: string) => {
    let out: string;
    try {
      out = decodeURIComponent(part);
    } catch {
      throw invalid(`has a malformed percent-encoding in its ${what}`);
    }
    if (out.includes('\0')) throw invalid(`must not contain NUL in its ${what}`);
    return out;
  };
  const user = decode(url.username, 'user name');
  if (user === '') throw invalid('must include a user name');
  const password = decode(url.password, 'password');
  if (password === '') throw invalid('must include a password');
  const path = url.pathname.replace(/^\//, '');
  if (path.includes('/')) throw invalid('must have at most one path segment (the database)');
  const database = path === '' ? user : decode(path, 'database name');
  for (const key of url.searchParams.keys()) {
    if (!ALLOWED_PARAMS.has(key)) throw invalid(/^[a-z_]{1,40}$/.test(key) ? `has an unsupported parameter ${key}` : 'has an unsupported parameter');
  }
  const sslmode = url.searchParams.get('sslmode') ?? 'disable';
  if (!(SSL_MODES as readonly string[]).includes(sslmode)) throw invalid(`has sslmode other than ${SSL_MODES.join(', ')}`);
  return { url, user, password, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, database, sslmode: sslmode as SslMode };
}

/** `url` with its password replaced by `password` (percent-encoded, so any character survives a round trip). */
export function withPassword(url: string, password: string): string {
  const parsed = parsePostgresUrl(url);
  checkPassword(password, (reason) => new ValidationError(`password ${reason}`, { password: reason }));
  const next = new URL(parsed.url.href);
  // The URL setter leaves `%` alone (so "%41" would read back as "A"): encode everything ourselves.
  next.password = encodeURIComponent(password);
  return next.href;
}

/** 64 URL-safe characters: a random byte's low 6 bits pick one with no bias (256 is a multiple of 64). */
const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A new password from the CSPRNG: `length` (16–1024, default 32 ⇒ 192 bits) characters of [A-Za-z0-9_-]. */
export function generatePassword(length = 32): string {
  if (!Number.isInteger(length) || length < 16 || length > MAX_PASSWORD_LENGTH) throw new RangeError(`password length must be an integer from 16 to ${MAX_PASSWORD_LENGTH}`);
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += PASSWORD_ALPHABET[b & 63];
  return out;
}

export type PostgresErrorKind =
  | 'invalid_url'
  | 'invalid_input'
  | 'refused'
  | 'authentication'
  | 'privilege'
  | 'role_not_found'
  | 'database_not_found'
  | 'unsupported_server'
  | 'tls'
  | 'connection'
  | 'timeout'
  | 'server';

/**
 * Why talking to PostgreSQL failed. `transient` errors (unreachable,
 * timed out, server shutting down or overloaded) are worth retrying; the
 * others need a person (wrong credentials, missing rights, no such role, a
 * destination the egress guard refuses: kind `refused`).
 * The message is safe to store and show: no password, no URL.
 */
export class PostgresRotationError extends Error {
  readonly transient: boolean;
  readonly kind: PostgresErrorKind;
  /** PostgreSQL's SQLSTATE when the server answered with an error. */
  readonly sqlState: string | undefined;

  constructor(kind: PostgresErrorKind, message: string, options: { transient: boolean; sqlState?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'PostgresRotationError';
    this.kind = kind;
    this.transient = options.transient;
    this.sqlState = options.sqlState;
  }
}

export interface PostgresCallOptions {
  /** Which destinations may be reached (required: there is no unguarded connection). */
  readonly egress: PostgresEgress;
  /** Bound on resolving, connecting and the statement together; default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Sets `role`'s password by logging in with `connectUrl` (the role's current
 * credentials, or a rotator's with CREATEROLE) and running `ALTER ROLE "<role>"
 * WITH PASSWORD '<SCRAM verifier>'`. The verifier is computed here, so the
 * password itself never reaches the server, its statement log or
 * pg_stat_statements. Throws PostgresRotationError.
 */
export async function applyPassword(connectUrl: string, role: string, password: string, opts: PostgresCallOptions): Promise<void> {
  const creds = credentialsFor(connectUrl);
  const bad = (reason: string) => new PostgresRotationError('invalid_input', reason, { transient: false });
  if (typeof role !== 'string' || role === '') throw bad('role name must not be empty');
  if (role.includes('\0')) throw bad('role name must not contain NUL');
  if (Buffer.byteLength(role, 'utf8') > MAX_ROLE_BYTES) throw bad(`role name must be at most ${MAX_ROLE_BYTES} bytes (PostgreSQL would truncate it)`);
  checkPassword(password, (reason) => bad(`password ${reason}`));
  const verifier = await scramSha256Verifier(password);
  const ctx = { creds, role, secrets: [password, encodeURIComponent(password), verifier, creds.password] };
  await withClient(creds, opts, ctx, async (client, remaining) => {
    const version = await client.query<{ server_version_num: string }>(timed('SHOW server_version_num', remaining()));
    if (Number(version.rows[0]?.server_version_num) < 100000) {
      throw new PostgresRotationError('unsupported_server', `PostgreSQL at ${where(creds)} is older than 10 and cannot store SCRAM passwords`, { transient: false });
    }
    await client.query(timed(`ALTER ROLE ${pg.escapeIdentifier(role)} WITH PASSWORD ${pg.escapeLiteral(verifier)}`, remaining()));
  });
}

/**
 * True when `url`'s credentials log in (and `SELECT 1` runs), false when
 * PostgreSQL refuses them (SQLSTATE 28P01 / 28000: wrong password, no such
 * role, NOLOGIN, expired, no pg_hba entry). Throws PostgresRotationError
 * otherwise: transient when the server can't be reached or times out.
 * Only meaningful against a server that checks passwords (not `trust`).
 * A destination the egress guard refuses throws (kind `refused`), never false.
 */
export async function canLogin(url: string, opts: PostgresCallOptions): Promise<boolean> {
  const creds = credentialsFor(url);
  try {
    await withClient(creds, opts, { creds, secrets: [creds.password] }, async (client, remaining) => {
      await client.query(timed('SELECT 1', remaining()));
    });
    return true;
  } catch (err) {
    if (err instanceof PostgresRotationError && (err.sqlState === '28P01' || err.sqlState === '28000')) return false;
    throw err;
  }
}

function credentialsFor(url: string): PostgresCredentials {
  try {
    return parsePostgresUrl(url, 'url');
  } catch (err) {
    throw new PostgresRotationError('invalid_url', err instanceof Error ? err.message : 'url is not a PostgreSQL URL', { transient: false });
  }
}

function checkPassword(password: string, fail: (reason: string) => Error): void {
  if (typeof password !== 'string' || password === '') throw fail('must not be empty');
  if (password.includes('\0')) throw fail('must not contain NUL');
  if (password.length > MAX_PASSWORD_LENGTH) throw fail(`must be at most ${MAX_PASSWORD_LENGTH} characters`);
}

interface CallContext {
  readonly creds: PostgresCredentials;
  readonly role?: string;
  /** Strings scrubbed from any server text that makes it into a message. */
  readonly secrets: readonly string[];
}

const where = (c: PostgresCredentials) => (c.host.includes(':') ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`);

/** The checked addresses of `creds.host`; refusals and lookup failures as PostgresRotationError. */
async function targets(creds: PostgresCredentials, egress: PostgresEgress, timeoutMs: number): Promise<readonly string[]> {
  try {
    return await resolveChecked(creds.host, { allow: egress.allow, resolver: egress.resolver, timeoutMs });
  } catch (err) {
    if (err instanceof EgressRefusedError) {
      const why = err.message.replace(/; allow-list it to permit$/, '');
      throw new PostgresRotationError('refused', `Connecting to PostgreSQL at ${where(creds)} is refused: ${why}, and VAULT_POSTGRES_ALLOW does not permit it`, { transient: false, cause: err });
    }
    if (err instanceof ResolutionError) {
      const kind = err.timedOut ? 'timeout' : 'connection';
      throw new PostgresRotationError(kind, `Cannot reach PostgreSQL at ${where(creds)}: ${err.message}`, { transient: true, cause: err });
    }
    throw err;
  }
}

/** Socket errors after which the next checked address of the same name is worth a try. */
const TRY_NEXT_ADDRESS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

async function withClient(creds: PostgresCredentials, opts: PostgresCallOptions, ctx: CallContext, run: (client: pg.Client, remaining: () => number) => Promise<void>): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const addresses = await targets(creds, opts.egress, timeoutMs);
  const dial = opts.egress.dial ?? ((config: pg.ClientConfig) => new pg.Client(config));
  for (const [index, address] of addresses.entries()) {
    const client = dial({
      // The checked address, never the name: nothing resolves it again.
      host: address,
      port: creds.port,
      user: creds.user,
      password: creds.password,
      database: creds.database,
      ssl: tlsFor(creds.sslmode, creds.host),
      application_name: creds.url.searchParams.get('application_name') ?? 'csda-vault-rotation',
      connectionTimeoutMillis: remaining(),
      statement_timeout: timeoutMs,
    });
    // A connection dropped between queries is reported through the query's rejection; don't crash on the event.
    client.on('error', () => undefined);
    let connected = false;
    try {
      await client.connect();
      connected = true;
      await run(client, remaining);
      return;
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const more = index + 1 < addresses.length && deadline - Date.now() > 1;
      if (!connected && more && typeof code === 'string' && TRY_NEXT_ADDRESS.has(code)) continue;
      throw err instanceof PostgresRotationError ? err : classify(err, ctx);
    } finally {
      // end() waits for the server to close; never let a stuck server hold the caller.
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
  }
}

/** A query with a client-side read timeout (node-postgres supports `query_timeout` per query; its types only per client). */
const timed = (text: string, timeoutMs: number) => ({ text, query_timeout: timeoutMs }) as pg.QueryConfig;

const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL']);
/** SQLSTATE classes worth a retry: connection exception, insufficient resources, operator intervention, system error, transaction rollback, internal. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58', '40', 'XX']);

function classify(err: unknown, ctx: CallContext): PostgresRotationError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const text = scrub(raw, ctx.secrets);
  const as = `"${ctx.creds.user}" at ${where(ctx.creds)}`;
  const make = (kind: PostgresErrorKind, message: string, transient: boolean, sqlState?: string) => new PostgresRotationError(kind, message, { transient, sqlState, cause: err });

  if (/^[0-9A-Z]{5}$/.test(code)) {
    const sql = (kind: PostgresErrorKind, what: string, transient: boolean) => make(kind, `${what}: ${text} (SQLSTATE ${code})`, transient, code);
    if (code === '28P01' || code === '28000') return sql('authentication', `PostgreSQL refused the login of ${as}`, false);
    if (code === '42501') return sql('privilege', `${as} may not change the password of role "${ctx.role ?? ''}"`, false);
    if (code === '42704') return sql('role_not_found', `Role "${ctx.role ?? ''}" does not exist at ${where(ctx.creds)}`, false);
    if (code === '3D000') return sql('database_not_found', `Database "${ctx.creds.database}" does not exist at ${where(ctx.creds)}`, false);
    if (code === '57014') return sql('timeout', `PostgreSQL at ${where(ctx.creds)} cancelled the statement`, true);
    if (TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return sql('server', `PostgreSQL at ${where(ctx.creds)} is unavailable`, true);
    return sql('server', `PostgreSQL at ${where(ctx.creds)} failed the request as ${as}`, false);
  }
  if (TRANSIENT_SOCKET_CODES.has(code)) return make('connection', `Cannot reach PostgreSQL at ${where(ctx.creds)}: ${code}`, true);
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code) || /does not support SSL/i.test(raw)) {
    return make('tls', `TLS with PostgreSQL at ${where(ctx.creds)} failed: ${text}`, false);
  }
  if (/^SASL/.test(raw)) return make('authentication', `SCRAM login of ${as} failed: ${text}`, false);
  if (/timeout|timed out/i.test(raw)) return make('timeout', `PostgreSQL at ${where(ctx.creds)} did not answer in time`, true);
  if (/Connection terminated|ended unexpectedly|socket hang up/i.test(raw)) return make('connection', `Connection to PostgreSQL at ${where(ctx.creds)} was lost`, true);
  return make('server', `Unexpected failure talking to PostgreSQL at ${where(ctx.creds)}: ${text}`, false);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}
