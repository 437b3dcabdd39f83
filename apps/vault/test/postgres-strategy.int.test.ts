import { spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, POSTGRES_BIN_DIR, startPostgresCluster, type TestPostgresCluster } from '@csda/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList, systemResolver, type Resolver } from '@csda/net';
import * as strategy from '../src/rotation/postgres-strategy.ts';
import { generatePassword, PostgresRotationError, type PostgresEgress } from '../src/rotation/postgres-strategy.ts';

const id = pg.escapeIdentifier;
const lit = pg.escapeLiteral;

/** The clusters of this file listen on 127.0.0.1, which the egress guard permits only when allow-listed. */
const LOOPBACK: PostgresEgress = { allow: parseAllowList('127.0.0.1') };
const applyPassword = (url: string, role: string, password: string, opts: { timeoutMs?: number; egress?: PostgresEgress } = {}) =>
  strategy.applyPassword(url, role, password, { egress: LOOPBACK, ...opts });
const canLogin = (url: string, opts: { timeoutMs?: number; egress?: PostgresEgress } = {}) => strategy.canLogin(url, { egress: LOOPBACK, ...opts });

/** A name for the clusters that only this test's resolver knows (everything else as the system resolves it). */
const GUARD_NAME = 'pg.guard.test';
const namedCluster: Resolver = async (host) => (host === GUARD_NAME ? [{ address: '127.0.0.1', family: 4 }] : systemResolver(host));

/** Whatever `promise` rejected with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<PostgresRotationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PostgresRotationError);
  return err as PostgresRotationError;
}

/**
 * The postgres strategy's primitives against a private PostgreSQL cluster
 * that checks SCRAM passwords for every login (this machine's main server
 * trusts local connections, so it could not tell a wrong password).
 */
describe('postgres rotation primitives against a password-checking cluster', () => {
  let cluster: TestPostgresCluster;
  let startMs = 0;
  const pw = new Map<string, string>();
  const createRole = async (role: string, attrs = 'LOGIN') => {
    const password = generatePassword();
    pw.set(role, password);
    await cluster.query(`CREATE ROLE ${id(role)} ${attrs} PASSWORD ${lit(password)}`);
    return cluster.url(role, password);
  };

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startPostgresCluster({ auth: 'scram-sha-256', settings: { log_statement: 'all', log_connections: 'on' } });
    startMs = Date.now() - t0;
    await createRole('rotator', 'LOGIN CREATEROLE');
    await createRole('nobody');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('the cluster', () => {
    it('starts in a few seconds, listens on 127.0.0.1 only and demands SCRAM in every pg_hba rule', async () => {
      expect(startMs).toBeLessThan(10_000);
      const [listen] = await cluster.query<{ listen_addresses: string }>('SHOW listen_addresses');
      expect(listen?.listen_addresses).toBe('127.0.0.1');
      const rules = await cluster.query<{ type: string; auth_method: string; address: string | null }>('SELECT type, auth_method, address FROM pg_hba_file_rules');
      expect(rules.length).toBeGreaterThan(0);
      for (const r of rules) expect(r.auth_method).toBe('scram-sha-256');
      const [enc] = await cluster.query<{ password_encryption: string }>('SHOW password_encryption');
      expect(enc?.password_encryption).toBe('scram-sha-256');
    });

    it('checks passwords: a wrong one fails, also for the superuser', async () => {
      const login = async (url: string) => {
        const c = new pg.Client({ connectionString: url });
        c.on('error', () => undefined);
        try {
          await c.connect();
          return 'ok';
        } catch (e) {
          return (e as { code?: string }).code;
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      expect(await login(cluster.url('nobody', pw.get('nobody')!))).toBe('ok');
      expect(await login(cluster.url('nobody', `${pw.get('nobody')!}x`))).toBe('28P01');
      expect(await login(cluster.superuserUrl)).toBe('ok');
      expect(await login(cluster.url('postgres', 'postgres'))).toBe('28P01');
      expect(await login(cluster.url('no_such_role', 'whatever'))).toBe('28P01');
    });

    it('refuses settings that would move it off 127.0.0.1', async () => {
      await expect(startPostgresCluster({ settings: { listen_addresses: '*' } })).rejects.toThrow(/listen_addresses is fixed/);
    });
  });

  describe('sslmode', () => {
    it('require against a server without TLS is a non-transient TLS error', async () => {
      const url = `${cluster.url('nobody', pw.get('nobody')!)}?sslmode=require`;
      expect(await rejection(canLogin(url))).toMatchObject({ kind: 'tls', transient: false });
      expect(await rejection(applyPassword(url, 'nobody', generatePassword()))).toMatchObject({ kind: 'tls', transient: false });
    });

    it('require encrypts without verifying; verify-ca / verify-full refuse an untrusted certificate', async () => {
      const tls = await startPostgresCluster({ tls: true, settings: { log_connections: 'on' } });
      try {
        expect(tls.tlsCertificate).toContain('BEGIN CERTIFICATE');
        await tls.query(`CREATE ROLE over_tls LOGIN PASSWORD 'over-tls-password'`);
        const base = tls.url('over_tls', 'over-tls-password');
        expect(await canLogin(`${base}?sslmode=require`)).toBe(true);
        expect(await tls.serverLog()).toMatch(/connection authorized: user=over_tls database=postgres[^\n]* SSL enabled/);
        await applyPassword(`${base}?sslmode=require`, 'over_tls', 'rotated-over-tls');
        expect(await canLogin(`${tls.url('over_tls', 'rotated-over-tls')}?sslmode=require`)).toBe(true);
        // Through a name: the client connects to the checked address and sends the name as SNI.
        const viaName = `${tls.url('over_tls', 'rotated-over-tls').replace('@127.0.0.1:', `@${GUARD_NAME}:`)}?sslmode=require`;
        expect(await canLogin(viaName, { egress: { allow: parseAllowList('127.0.0.1'), resolver: namedCluster } })).toBe(true);
        for (const mode of ['verify-ca', 'verify-full']) {
          expect(await rejection(canLogin(`${tls.url('over_tls', 'rotated-over-tls')}?sslmode=${mode}`))).toMatchObject({ kind: 'tls', transient: false });
        }
      } finally {
        await tls.stop();
      }
    });
  });

  const hostileRoles = ['app user', 'quo"te"d', 'back\\slash\\', 'ünï☃côdé 𝄞', `'; DROP ROLE rotator; --`, 'MiXeD Case', 'select'];
  const hostilePassword = `it's "quoted" \\ back\\slash $$ dollar $tag$ ünï ☃`;

  it.each(hostileRoles)('changes the password of role %j with its own credentials: the old stops working, the new one works', async (role) => {
    const oldUrl = await createRole(role);
    const password = `${hostilePassword} ${generatePassword(16)}`;
    await applyPassword(oldUrl, role, password);
    expect(await canLogin(cluster.url(role, password))).toBe(true);
    expect(await canLogin(oldUrl)).toBe(false);
    const [row] = await cluster.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
    expect(row?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    // The SQL-injection-shaped name was only ever a name.
    expect(await cluster.query('SELECT 1 FROM pg_roles WHERE rolname = $1', ['rotator'])).toHaveLength(1);
  });

  // SASLprep changes these (compatibility forms, non-ASCII spaces, invisible characters, decomposed accents) before SCRAM.
  const unicodePasswords = ['ünï☃ "q" \\ $$', 'ﬁne-ligature', 'non\u00A0breaking\u3000spaces', 'zero\u200Bwidth soft\u00ADhyphen', 'e\u0301-decomposed'];
  it.each(unicodePasswords)('the verifier works for node-postgres and libpq (psql) alike, for password %j', async (base) => {
    const role = `psql user ${generatePassword(16)}`;
    await createRole(role);
    const password = `${base} ${generatePassword(16)}`;
    await applyPassword(cluster.url('rotator', pw.get('rotator')!), role, password);
    expect(await canLogin(cluster.url(role, password))).toBe(true);
    const psql = (pass: string) =>
      spawnSync(join(POSTGRES_BIN_DIR, 'psql'), ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', role, '-d', 'postgres', '-w', '-tAc', 'SELECT current_user'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, PGPASSWORD: pass, PGCONNECT_TIMEOUT: '5', LANG: 'C.UTF-8' },
      });
    const ok = psql(password);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe(role);
    expect(psql(`${password}x`).stderr).toContain('password authentication failed');
  });

  it("a rotator (CREATEROLE, not the target) changes another role's password and keeps its own", async () => {
    const targetUrl = await createRole('rotated by rotator');
    const rotatorUrl = cluster.url('rotator', pw.get('rotator')!);
    const next = generatePassword();
    await applyPassword(rotatorUrl, 'rotated by rotator', next);
    expect(await canLogin(cluster.url('rotated by rotator', next))).toBe(true);
    expect(await canLogin(targetUrl)).toBe(false);
    expect(await canLogin(rotatorUrl)).toBe(true);
  });

  it('a role without the right gets a non-transient privilege error, and the target keeps its password', async () => {
    const targetUrl = await createRole('guarded');
    const nobodyPw = pw.get('nobody')!;
    const next = generatePassword();
    const err = await rejection(applyPassword(cluster.url('nobody', nobodyPw), 'guarded', next));
    expect(err).toMatchObject({ kind: 'privilege', transient: false, sqlState: '42501' });
    expect(err.message).toContain('"nobody"');
    expect(err.message).toContain('"guarded"');
    for (const secret of [nobodyPw, next, pw.get('guarded')!]) expect(err.message).not.toContain(secret);
    expect(await canLogin(targetUrl)).toBe(true);

    // CREATEROLE does not reach superusers either.
    const su = await rejection(applyPassword(cluster.url('rotator', pw.get('rotator')!), 'postgres', next));
    expect(su).toMatchObject({ kind: 'privilege', transient: false });
  });

  it('refuses a missing role, an over-long role name and bad input without retrying', async () => {
    const rotatorUrl = cluster.url('rotator', pw.get('rotator')!);
    expect(await rejection(applyPassword(rotatorUrl, 'no such role', generatePassword()))).toMatchObject({ kind: 'role_not_found', transient: false, sqlState: '42704' });
    // 64 bytes: PostgreSQL would truncate it to 63 and alter whatever role has that name.
    await createRole('x'.repeat(63));
    const tooLong = await rejection(applyPassword(rotatorUrl, `${'x'.repeat(63)}y`, generatePassword()));
    expect(tooLong).toMatchObject({ kind: 'invalid_input', transient: false });
    expect(await canLogin(cluster.url('x'.repeat(63), pw.get('x'.repeat(63))!))).toBe(true);
    expect(await rejection(applyPassword(rotatorUrl, '', generatePassword()))).toMatchObject({ kind: 'invalid_input' });
    expect(await rejection(applyPassword(rotatorUrl, 'a\0b', generatePassword()))).toMatchObject({ kind: 'invalid_input' });
    expect(await rejection(applyPassword(rotatorUrl, 'nobody', ''))).toMatchObject({ kind: 'invalid_input' });

    const junk = await rejection(applyPassword(`mysql://rotator:${pw.get('rotator')!}@127.0.0.1/x`, 'nobody', generatePassword()));
    expect(junk).toMatchObject({ kind: 'invalid_url', transient: false });
    expect(junk.message).not.toContain(pw.get('rotator')!);
  });

  it('wrong connect credentials: a non-transient authentication error that shows neither password', async () => {
    const wrong = `wrong-${generatePassword()}`;
    const next = generatePassword();
    const err = await rejection(applyPassword(cluster.url('rotator', wrong), 'nobody', next));
    expect(err).toMatchObject({ kind: 'authentication', transient: false, sqlState: '28P01' });
    expect(err.message).toContain(`127.0.0.1:${cluster.port}`);
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(encodeURIComponent(wrong));
    expect(err.message).not.toContain(next);
  });

  it('canLogin: true, false for a wrong password / unknown role / NOLOGIN role, throws for a missing database', async () => {
    const url = await createRole('can login');
    expect(await canLogin(url)).toBe(true);
    expect(await canLogin(cluster.url('can login', 'not-the-password'))).toBe(false);
    expect(await canLogin(cluster.url('nobody at all', 'x'))).toBe(false);
    const noLoginUrl = await createRole('no login', 'NOLOGIN');
    expect(await canLogin(noLoginUrl)).toBe(false);
    const missingDb = await rejection(canLogin(cluster.url('can login', pw.get('can login')!, 'no_such_db')));
    expect(missingDb).toMatchObject({ kind: 'database_not_found', transient: false, sqlState: '3D000' });
    expect(await rejection(canLogin('postgres://only-a-user@127.0.0.1/db'))).toMatchObject({ kind: 'invalid_url', transient: false });
  });

  describe('unreachable servers are transient', () => {
    let blackhole: Server;
    let blackholePort = 0;
    const sockets = new Set<Socket>();

    beforeAll(async () => {
      // Accepts TCP connections and never says a word, like a firewalled or hung server.
      blackhole = createServer((s) => {
        sockets.add(s);
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
      blackholePort = (blackhole.address() as { port: number }).port;
    });

    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackhole?.close(r));
    });

    it('connection refused on a closed port', async () => {
      const closed = await freePort();
      const url = `postgres://rotator:${encodeURIComponent(pw.get('rotator')!)}@127.0.0.1:${closed}/postgres`;
      const err = await rejection(applyPassword(url, 'nobody', generatePassword()));
      expect(err).toMatchObject({ kind: 'connection', transient: true });
      expect(err.message).toContain(`127.0.0.1:${closed}`);
      expect(err.message).not.toContain(pw.get('rotator')!);
      expect(await rejection(canLogin(url))).toMatchObject({ kind: 'connection', transient: true });
    });

    it('a server that never answers times out within the bound', async () => {
      const url = `postgres://rotator:${encodeURIComponent(pw.get('rotator')!)}@127.0.0.1:${blackholePort}/postgres`;
      const t0 = Date.now();
      const err = await rejection(applyPassword(url, 'nobody', generatePassword(), { timeoutMs: 500 }));
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(err).toMatchObject({ kind: 'timeout', transient: true });
      expect(await rejection(canLogin(url, { timeoutMs: 300 }))).toMatchObject({ kind: 'timeout', transient: true });
    });

    it('a server that shuts down is transient too', async () => {
      const other = await startPostgresCluster();
      await other.query(`CREATE ROLE short_lived LOGIN PASSWORD 'short-lived-pw'`);
      const url = other.url('short_lived', 'short-lived-pw');
      expect(await canLogin(url)).toBe(true);
      await other.stop();
      expect(await rejection(canLogin(url))).toMatchObject({ transient: true });
    });
  });

  describe('the egress guard', () => {
    /** TCP connections the cluster has seen (log_connections logs each one before authentication). */
    const received = async () => ((await cluster.serverLog()).match(/connection received: /g) ?? []).length;
    const rolpassword = async (role: string) => (await cluster.query<{ p: string }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [role]))[0]?.p;
    const publicOnly: PostgresEgress = { allow: parseAllowList('') };

    it('without an allow list refuses the cluster on 127.0.0.1, however it is named, before connecting: nothing reaches it', async () => {
      const url = await createRole('guarded by default');
      const rotatorUrl = cluster.url('rotator', pw.get('rotator')!);
      const before = await rolpassword('guarded by default');
      const seen = await received();

      const login = await rejection(canLogin(url, { egress: publicOnly }));
      expect(login).toMatchObject({ kind: 'refused', transient: false });
      expect(login.message).toBe(`Connecting to PostgreSQL at 127.0.0.1:${cluster.port} is refused: 127.0.0.1 is a loopback address, and VAULT_POSTGRES_ALLOW does not permit it`);
      for (const via of [url, rotatorUrl]) {
        const apply = await rejection(applyPassword(via, 'guarded by default', generatePassword(), { egress: publicOnly }));
        expect(apply).toMatchObject({ kind: 'refused', transient: false });
        for (const secret of [pw.get('guarded by default')!, pw.get('rotator')!]) expect(apply.message).not.toContain(secret);
      }
      // Numeric forms the system resolver reads as 127.0.0.1, and a name resolving to it: the resolved address is what is judged.
      for (const host of ['2130706433', '0x7f000001', '127.1', GUARD_NAME]) {
        const named = url.replace('@127.0.0.1:', `@${host}:`);
        const err = await rejection(canLogin(named, { egress: { ...publicOnly, resolver: namedCluster } }));
        expect(err).toMatchObject({ kind: 'refused', transient: false });
        expect(err.message).toContain(`${host} resolves to 127.0.0.1, a loopback address`);
      }
      const otherRange = await rejection(canLogin(url.replace('@127.0.0.1:', `@${GUARD_NAME}:`), { egress: { allow: parseAllowList('10.0.0.0/8,db.internal'), resolver: namedCluster } }));
      expect(otherRange).toMatchObject({ kind: 'refused' });

      expect(await received()).toBe(seen);
      // The count does move when something connects.
      expect(await canLogin(url)).toBe(true);
      expect(await received()).toBe(seen + 1);
      expect(await rolpassword('guarded by default')).toBe(before);
    });

    it('a name allow-listed by CIDR (or by name) reaches the cluster, and the rotation works through it', async () => {
      const url = await createRole('guarded by cidr');
      const viaName = (u: string) => u.replace('@127.0.0.1:', `@${GUARD_NAME}:`);
      const seen = await received();
      for (const allow of ['127.0.0.0/8', GUARD_NAME, '*.guard.test']) {
        expect(await canLogin(viaName(url), { egress: { allow: parseAllowList(allow), resolver: namedCluster } })).toBe(true);
      }
      expect(await received()).toBe(seen + 3);
      const next = generatePassword();
      const cidr: PostgresEgress = { allow: parseAllowList('127.0.0.0/8'), resolver: namedCluster };
      await applyPassword(viaName(cluster.url('rotator', pw.get('rotator')!)), 'guarded by cidr', next, { egress: cidr });
      expect(await canLogin(viaName(cluster.url('guarded by cidr', next)), { egress: cidr })).toBe(true);
      expect(await canLogin(url)).toBe(false);
    });
  });

  it("never lets the new password reach the server's log, even with log_statement = 'all'", async () => {
    const url = await createRole('logged role');
    const next = `never-in-the-log-${generatePassword()}`;
    await applyPassword(url, 'logged role', next);
    expect(await canLogin(cluster.url('logged role', next))).toBe(true);
    // A failed login is logged too; make sure that path doesn't leak the attempt either.
    expect(await canLogin(cluster.url('logged role', `${next}-wrong`))).toBe(false);
    const log = await cluster.serverLog();
    expect(log).toMatch(/statement: ALTER ROLE "logged role" WITH PASSWORD 'SCRAM-SHA-256\$/);
    expect(log).toContain('password authentication failed for user "logged role"');
    expect(log).not.toContain(next);
    expect(log).not.toContain(encodeURIComponent(next));
  });
});
