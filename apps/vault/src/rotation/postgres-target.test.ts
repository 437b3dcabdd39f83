import type { PeerCertificate } from 'node:tls';
import { parseAllowList, type Resolver } from '@csda/net';
import { freePort } from '@csda/testing';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresOps } from './postgres-ops.ts';
import { applyPassword, canLogin, PostgresRotationError, type PostgresEgress } from './postgres-strategy.ts';
import { tlsFor } from './postgres-target.ts';
import { RotationFailure } from './rotation.engine.ts';

/*
 * The egress guard of the postgres strategy, decided without a network: the
 * resolver and the client are injected, so no connection to a private or
 * public address is ever attempted, whatever the guard decides.
 */

const PASSWORD = 'Sup3r-s3cret-Pw-for-guard';
const NEXT = 'N3xt-pa55word-never-shown';
const urlFor = (host: string, extra = '') => `postgres://app:${PASSWORD}@${host}:6543/app${extra}`;

/** A resolver from a table (name → answers in turn; the last answer repeats), recording what it was asked. */
function tableResolver(table: Record<string, string[][]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (host: string) => {
    calls.push(host);
    const answers = table[host];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    const n = calls.filter((c) => c === host).length;
    const list = answers[Math.min(n, answers.length) - 1] ?? [];
    return list.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }));
  };
  return Object.assign(resolver, { calls });
}

type Outcome = 'ok' | 'refused' | 'auth';

/** A stand-in pg.Client factory: records each config, never opens a socket; `outcome(host)` decides how connect() ends. */
function recordingDial(outcome: (host: string) => Outcome = () => 'refused') {
  const dialed: pg.ClientConfig[] = [];
  const dial = (config: pg.ClientConfig): pg.Client => {
    dialed.push(config);
    const result = outcome(String(config.host));
    const connect = () => {
      if (result === 'ok') return Promise.resolve();
      if (result === 'auth') return Promise.reject(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }));
      return Promise.reject(Object.assign(new Error(`connect ECONNREFUSED ${String(config.host)}:${String(config.port)}`), { code: 'ECONNREFUSED' }));
    };
    return {
      on: () => undefined,
      connect,
      query: () => Promise.resolve({ rows: [{ server_version_num: '150004' }] }),
      end: () => Promise.resolve(),
    } as unknown as pg.Client;
  };
  return { dial, dialed };
}

async function rejection(promise: Promise<unknown>): Promise<PostgresRotationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PostgresRotationError);
  const e = err as PostgresRotationError;
  for (const secret of [PASSWORD, NEXT, encodeURIComponent(PASSWORD)]) expect(e.message).not.toContain(secret);
  return e;
}

const egress = (allow: string, resolver: Resolver, dial: PostgresEgress['dial']): PostgresEgress => ({ allow: parseAllowList(allow), resolver, dial });

describe('the postgres egress guard', () => {
  const refusedAnswers: [string, string, RegExp][] = [
    ['a private address', '10.0.0.5', /db\.internal resolves to 10\.0\.0\.5, a private address/],
    ['the cloud metadata service', '169.254.169.254', /169\.254\.169\.254, a link-local address \(the cloud metadata service\)/],
    ['an IPv4-mapped loopback address', '::ffff:127.0.0.1', /::ffff:127\.0\.0\.1 \(127\.0\.0\.1\), a loopback address/],
    ['loopback', '127.0.0.1', /a loopback address/],
    ['IPv6 loopback', '::1', /a loopback address/],
    ['the EC2 IPv6 metadata service', 'fd00:ec2::254', /EC2 metadata service/],
    ['carrier-grade NAT space', '100.64.0.1', /carrier-grade NAT/],
    ['the unspecified address', '0.0.0.0', /unspecified/],
    ['a 6to4 address embedding a private one', '2002:a00:5::1', /6to4 address embedding 10\.0\.0\.5/],
  ];

  it.each(refusedAnswers)('refuses a name resolving to %s (%s) before any connection, for canLogin and applyPassword alike', async (_label, address, why) => {
    const resolver = tableResolver({ 'db.internal': [[address]] });
    const { dial, dialed } = recordingDial(() => 'ok');
    const opts = { egress: egress('', resolver, dial) };
    for (const call of [canLogin(urlFor('db.internal'), opts), applyPassword(urlFor('db.internal'), 'app', NEXT, opts)]) {
      const err = await rejection(call);
      expect(err).toMatchObject({ kind: 'refused', transient: false });
      expect(err.message).toMatch(/^Connecting to PostgreSQL at db\.internal:6543 is refused: /);
      expect(err.message).toMatch(why);
      expect(err.message).toMatch(/VAULT_POSTGRES_ALLOW does not permit it$/);
    }
    expect(dialed).toEqual([]);
  });

  it('refuses IP-literal hosts as they are, without resolving them', async () => {
    const resolver = tableResolver({});
    const { dial, dialed } = recordingDial(() => 'ok');
    const opts = { egress: egress('', resolver, dial) };
    for (const host of ['10.0.0.5', '127.0.0.1', '169.254.169.254', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:a00:5]', '[fe80::1]']) {
      const err = await rejection(canLogin(urlFor(host), opts));
      expect(err).toMatchObject({ kind: 'refused', transient: false });
    }
    expect(resolver.calls).toEqual([]);
    expect(dialed).toEqual([]);
  });

  it('checks every address a name has: one private address among public ones refuses it', async () => {
    const resolver = tableResolver({ 'db.example.com': [['93.184.216.34', '10.0.0.5', '2606:2800:220:1:248:1893:25c8:1946']] });
    const { dial, dialed } = recordingDial(() => 'ok');
    const err = await rejection(canLogin(urlFor('db.example.com'), { egress: egress('', resolver, dial) }));
    expect(err.message).toContain('db.example.com resolves to 10.0.0.5, a private address');
    expect(dialed).toEqual([]);
  });

  it('lets an allow-listed CIDR, name or wildcard through, connecting to the checked address (not the name)', async () => {
    const resolver = tableResolver({ 'db.internal': [['10.0.0.5']], 'pg.corp.internal': [['10.1.2.3']] });
    for (const allow of ['10.0.0.0/8', '10.0.0.5', 'db.internal', '*.internal', '  192.168.0.0/16 , 10.0.0.0/24 ']) {
      const { dial, dialed } = recordingDial(() => 'refused');
      const err = await rejection(canLogin(urlFor('db.internal'), { egress: egress(allow, resolver, dial) }));
      // It passed the guard: the (stand-in) connection was refused, which is worth a retry.
      expect(err).toMatchObject({ kind: 'connection', transient: true });
      expect(err.message).toContain('db.internal:6543');
      expect(dialed.map((c) => [c.host, c.port, c.user, c.database])).toEqual([['10.0.0.5', 6543, 'app', 'app']]);
    }
    const { dial, dialed } = recordingDial(() => 'auth');
    expect(await canLogin(urlFor('pg.corp.internal'), { egress: egress('*.corp.internal', resolver, dial) })).toBe(false);
    expect(dialed.map((c) => c.host)).toEqual(['10.1.2.3']);
  });

  it('an allow list permits only what it names: other private ranges and metadata stay refused', async () => {
    const resolver = tableResolver({ 'db.internal': [['10.0.0.5']], 'meta.internal': [['169.254.169.254']], 'other.internal': [['192.168.1.10']] });
    const { dial, dialed } = recordingDial(() => 'ok');
    const opts = { egress: egress('10.0.0.0/8,db.internal', resolver, dial) };
    for (const host of ['meta.internal', 'other.internal', '127.0.0.1', '[::1]']) {
      expect(await rejection(canLogin(urlFor(host), opts))).toMatchObject({ kind: 'refused', transient: false });
    }
    expect(dialed).toEqual([]);
    expect(await canLogin(urlFor('db.internal'), opts)).toBe(true);
    expect(dialed.map((c) => c.host)).toEqual(['10.0.0.5']);
  });

  it('resolves once per connection and uses that answer: a rebinding second answer cannot redirect it', async () => {
    const resolver = tableResolver({ 'rebind.test': [['127.0.0.1'], ['10.0.0.5']] });
    const { dial, dialed } = recordingDial(() => 'ok');
    const opts = { egress: egress('127.0.0.1', resolver, dial) };
    expect(await canLogin(urlFor('rebind.test'), opts)).toBe(true);
    expect(resolver.calls).toEqual(['rebind.test']);
    expect(dialed.map((c) => c.host)).toEqual(['127.0.0.1']);
    // The next lookup answers 10.0.0.5: refused before anything is dialed.
    expect(await rejection(canLogin(urlFor('rebind.test'), opts))).toMatchObject({ kind: 'refused' });
    expect(dialed).toHaveLength(1);
  });

  it('tries the next checked address when one refuses the connection', async () => {
    const resolver = tableResolver({ 'db.internal': [['10.0.0.5', '10.0.0.6']] });
    const { dial, dialed } = recordingDial((host) => (host === '10.0.0.5' ? 'refused' : 'ok'));
    expect(await canLogin(urlFor('db.internal'), { egress: egress('10.0.0.0/8', resolver, dial) })).toBe(true);
    expect(dialed.map((c) => c.host)).toEqual(['10.0.0.5', '10.0.0.6']);
  });

  it('a name that does not resolve, or not in time, is transient', async () => {
    const { dial, dialed } = recordingDial(() => 'ok');
    const missing = await rejection(canLogin(urlFor('nowhere.internal'), { egress: egress('', tableResolver({}), dial) }));
    expect(missing).toMatchObject({ kind: 'connection', transient: true });
    expect(missing.message).toBe('Cannot reach PostgreSQL at nowhere.internal:6543: cannot resolve nowhere.internal: ENOTFOUND');
    const empty = await rejection(canLogin(urlFor('empty.internal'), { egress: egress('', tableResolver({ 'empty.internal': [[]] }), dial) }));
    expect(empty).toMatchObject({ kind: 'connection', transient: true });
    const hanging: Resolver = () => new Promise(() => undefined);
    const t0 = Date.now();
    const slow = await rejection(canLogin(urlFor('slow.internal'), { egress: egress('', hanging, dial), timeoutMs: 200 }));
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(slow).toMatchObject({ kind: 'timeout', transient: true });
    expect(dialed).toEqual([]);
  });

  it('verify-full checks the certificate against the name in the URL while connecting to its address', async () => {
    const resolver = tableResolver({ 'db.internal': [['10.0.0.5']] });
    const { dial, dialed } = recordingDial(() => 'ok');
    await canLogin(urlFor('db.internal', '?sslmode=verify-full'), { egress: egress('10.0.0.0/8', resolver, dial) });
    const config = dialed[0]!;
    expect(config.host).toBe('10.0.0.5');
    const ssl = config.ssl as { rejectUnauthorized: boolean; servername?: string; checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined };
    expect(ssl).toMatchObject({ rejectUnauthorized: true, servername: 'db.internal' });
    const cert = (san: string) => ({ subject: { CN: 'x' }, subjectaltname: san }) as unknown as PeerCertificate;
    // Whatever host tls passes in (the address, here), the name from the URL is what the certificate must carry.
    expect(ssl.checkServerIdentity('10.0.0.5', cert('DNS:db.internal'))).toBeUndefined();
    expect(ssl.checkServerIdentity('10.0.0.5', cert('DNS:evil.example'))).toBeInstanceOf(Error);
    expect(ssl.checkServerIdentity('10.0.0.5', cert('IP Address:10.0.0.5'))).toBeInstanceOf(Error);
  });

  it('TLS options per sslmode: no SNI for an IP literal, identity ignored by verify-ca only', () => {
    expect(tlsFor('disable', 'db.internal')).toBe(false);
    expect(tlsFor('require', 'db.internal')).toEqual({ rejectUnauthorized: false, servername: 'db.internal' });
    const cert = (san: string) => ({ subject: { CN: 'x' }, subjectaltname: san }) as unknown as PeerCertificate;
    const ca = tlsFor('verify-ca', 'db.internal') as { checkServerIdentity: (h: string, c: PeerCertificate) => Error | undefined };
    expect(ca.checkServerIdentity('10.0.0.5', cert('DNS:anything.else'))).toBeUndefined();
    const literal = tlsFor('verify-full', '10.0.0.5') as { servername?: string; checkServerIdentity: (h: string, c: PeerCertificate) => Error | undefined };
    expect(literal.servername).toBeUndefined();
    expect(literal.checkServerIdentity('10.0.0.5', cert('IP Address:10.0.0.5'))).toBeUndefined();
    expect(literal.checkServerIdentity('10.0.0.5', cert('IP Address:10.0.0.6'))).toBeInstanceOf(Error);
    expect((tlsFor('verify-full', 'db.internal.') as { servername?: string }).servername).toBe('db.internal');
  });
});

describe('createPostgresOps', () => {
  it('without an allow list refuses loopback as a permanent rotation failure (a closed local port shows if it connected)', async () => {
    const port = await freePort();
    const resolver = tableResolver({ 'db.internal': [['127.0.0.1']] });
    const ops = createPostgresOps({ resolver });
    const url = `postgres://app:${PASSWORD}@db.internal:${port}/app`;
    for (const call of [ops.canLogin(url), ops.applyPassword(url, 'app', NEXT)]) {
      const err = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RotationFailure);
      expect(err).toMatchObject({ transient: false });
      expect((err as Error).message).toBe(
        `postgres: Connecting to PostgreSQL at db.internal:${port} is refused: db.internal resolves to 127.0.0.1, a loopback address, and VAULT_POSTGRES_ALLOW does not permit it`,
      );
    }
  });

  it('passes its allow list on: an allow-listed loopback target is reached (here: a closed port, so a transient failure)', async () => {
    const port = await freePort();
    const ops = createPostgresOps({ allow: parseAllowList('127.0.0.0/8'), resolver: tableResolver({ 'db.internal': [['127.0.0.1']] }), timeoutMs: 2_000 });
    const err = await ops.canLogin(`postgres://app:${PASSWORD}@db.internal:${port}/app`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RotationFailure);
    expect(err).toMatchObject({ transient: true, message: `postgres: Cannot reach PostgreSQL at db.internal:${port}: ECONNREFUSED` });
  });
});
