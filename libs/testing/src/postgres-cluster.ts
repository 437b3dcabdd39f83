import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.ts';

const execFileAsync = promisify(execFile);

/** Where Debian's PostgreSQL 15 binaries live (override with POSTGRES_BIN_DIR). */
export const POSTGRES_BIN_DIR = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

const DIR_PREFIX = 'csda-pg-';

export interface PostgresClusterOptions {
  /** How every connection (local socket and 127.0.0.1) must authenticate; only SCRAM, so passwords are really checked. */
  readonly auth?: 'scram-sha-256';
  /** Extra server settings, passed as `postgres -c name=value` (e.g. `{ log_statement: 'all' }`). */
  readonly settings?: Readonly<Record<string, string>>;
  /** OS user the server runs as when this process is root (initdb and postgres refuse root); default `postgres`. */
  readonly osUser?: string;
  /** How long to wait for the server to accept the superuser's login; default 20 s. */
  readonly startTimeoutMs?: number;
  /** Serve TLS too (`ssl = on`) with a fresh self-signed certificate for 127.0.0.1 / localhost; plain connections still work. */
  readonly tls?: boolean;
}

export interface TestPostgresCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The cluster's temp dir (data dir `data/`, the unix socket, `server.log`). */
  readonly dir: string;
  /** The server's log (stderr of the postmaster). */
  readonly logFile: string;
  readonly superuser: string;
  /** `postgres://postgres:<random password>@127.0.0.1:<port>/postgres`. */
  readonly superuserUrl: string;
  /** With `tls`: the server's self-signed certificate (PEM), to trust it as a CA. */
  readonly tlsCertificate: string | undefined;
  /** A URL for `user` / `password` on this cluster (both percent-encoded), database default `postgres`. */
  url(user: string, password: string, database?: string): string;
  /** Runs one statement as the superuser; the rows. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Everything the server has logged so far. */
  serverLog(): Promise<string>;
  /** Fast shutdown (SIGINT, SIGKILL after 10 s), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

interface Live {
  readonly child: ChildProcess;
  readonly dir: string;
}

const live = new Set<Live>();
let exitHookInstalled = false;

/** On any exit of this process, take the clusters it started with it (SIGKILL of this process is covered by pdeathsig). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    // Immediate shutdown (SIGQUIT) cleans up shared memory; exit handlers must be synchronous, so wait for it by sleeping.
    for (const c of live) c.child.kill('SIGQUIT');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + 2_000;
    // (the children can't be reaped here, so watch for the postmaster removing its pid file instead)
    while ([...live].some((c) => existsSync(join(c.dir, 'data', 'postmaster.pid'))) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10);
    for (const c of live) rmSync(c.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Removes clusters left behind by test processes that died without cleaning
 * up (their owner pid is gone): stops a postmaster still running there, then
 * deletes the dir.
 */
function sweepAbandoned(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
      const pidFile = join(dir, 'data', 'postmaster.pid');
      if (existsSync(pidFile)) {
        const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
        if (Number.isInteger(postmaster) && postmaster > 0 && alive(postmaster)) process.kill(postmaster, 'SIGQUIT');
      }
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or someone else is cleaning it right now
    }
  }
}

function osIds(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

const SETTING_NAME = /^[a-z_][a-z0-9_.]*$/;
const FIXED_SETTINGS = new Set(['listen_addresses', 'port', 'unix_socket_directories']);

/**
 * Starts a throwaway PostgreSQL 15 cluster for one test file: `initdb` into a
 * fresh dir under the OS temp dir, a postmaster listening on 127.0.0.1 only
 * (free port; unix socket in the same dir), `password_encryption =
 * scram-sha-256` and a pg_hba.conf that demands SCRAM from everyone — unlike
 * this machine's main server, which trusts local connections, so a login here
 * proves the password. The superuser `postgres` gets a random password.
 *
 * As root, initdb and the server run as `osUser` (default `postgres`) via
 * `setpriv`; the server gets a parent-death signal (SIGQUIT) so a test
 * process killed outright does not leave it running, an exit hook stops it on
 * any normal exit, and dirs of dead owners are swept on the next start.
 */
export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<TestPostgresCluster> {
  if ((options.auth ?? 'scram-sha-256') !== 'scram-sha-256') throw new Error(`unsupported auth ${String(options.auth)}`);
  for (const name of Object.keys(options.settings ?? {})) {
    if (!SETTING_NAME.test(name)) throw new Error(`bad setting name ${name}`);
    if (FIXED_SETTINGS.has(name)) throw new Error(`${name} is fixed by startPostgresCluster (127.0.0.1 only, a free port, its own socket dir)`);
  }
  sweepAbandoned();
  installExitHook();

  const root = process.getuid?.() === 0;
  const osUser = options.osUser ?? 'postgres';
  const ids = root ? osIds(osUser) : undefined;
  const asServerUser = ids ? [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups'] : [];

  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  chmodSync(dir, 0o700);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const superuser = 'postgres';
  const superPassword = randomBytes(18).toString('base64url');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

  let child: ChildProcess | undefined;
  let entry: Live | undefined;
  try {
    const pwFile = join(dir, 'pwfile');
    writeFileSync(pwFile, `${superPassword}\n`, { mode: 0o600 });
    if (ids) chownSync(pwFile, ids.uid, ids.gid);
    try {
      await execFileAsync(
        'setpriv',
        [...asServerUser, '--', join(POSTGRES_BIN_DIR, 'initdb'), '-D', dataDir, '-U', superuser, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'],
        { cwd: dir, env, timeout: 60_000 },
      );
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`initdb failed (is ${dir} reachable by OS user ${osUser}?): ${e.stderr || e.stdout || e.message}`);
    } finally {
      rmSync(pwFile, { force: true });
    }
    writeFileSync(
      join(dataDir, 'pg_hba.conf'),
      ['# written by @csda/testing startPostgresCluster: every login must prove its password', 'local all all scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
    );

    const tlsSettings: Record<string, string> = {};
    let tlsCertificate: string | undefined;
    if (options.tls) {
      const cert = join(dir, 'server.crt');
      const key = join(dir, 'server.key');
      try {
        await execFileAsync(
          'openssl',
          ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
          { cwd: dir, env, timeout: 30_000 },
        );
      } catch (err) {
        throw new Error(`openssl could not make a certificate: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
      }
      chmodSync(key, 0o600);
      if (ids) for (const f of [cert, key]) chownSync(f, ids.uid, ids.gid);
      tlsCertificate = readFileSync(cert, 'utf8');
      Object.assign(tlsSettings, { ssl: 'on', ssl_cert_file: cert, ssl_key_file: key });
    }

    const port = await freePort();
    const settings: Record<string, string> = {
      password_encryption: 'scram-sha-256',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '50',
      shared_buffers: '32MB',
      logging_collector: 'off',
      ...tlsSettings,
      ...options.settings,
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: dir,
    };
    const args = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
    const logFd = openSync(logFile, 'a', 0o600);
    try {
      child = spawn('setpriv', [...asServerUser, '--pdeathsig=SIGQUIT', '--', join(POSTGRES_BIN_DIR, 'postgres'), '-D', dataDir, ...args], {
        cwd: dir,
        env,
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const proc = child;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', () => undefined);
    entry = { child: proc, dir };
    live.add(entry);

    const host = '127.0.0.1' as const;
    const url = (user: string, password: string, database = 'postgres') =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`;
    const superuserUrl = url(superuser, superPassword);
    const query = async <R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => {
      const c = new pg.Client({ host, port, user: superuser, password: superPassword, database: 'postgres' });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return (await c.query<R>(sql, params)).rows;
      } finally {
        await c.end();
      }
    };
    const serverLog = () => readFile(logFile, 'utf8');

    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgres exited during start-up:\n${await serverLog()}`);
      try {
        await query('SELECT 1');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`postgres did not accept the superuser login in time (${(err as Error).message}):\n${await serverLog()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    let stopping: Promise<void> | undefined;
    const live_ = entry;
    return {
      host,
      port,
      dir,
      logFile,
      superuser,
      superuserUrl,
      tlsCertificate,
      url,
      query,
      serverLog,
      stop() {
        stopping ??= (async () => {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGINT');
            const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(timer);
          }
          live.delete(live_);
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const proc = child;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    }
    if (entry) live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
