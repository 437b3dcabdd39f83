import { ValidationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { generatePassword, parsePostgresUrl, withPassword } from './postgres-strategy.ts';

const PASSWORD = 'Sup3r-s3cret-Pw';

describe('parsePostgresUrl', () => {
  it('reads user, password, host, port and database, percent-decoded', () => {
    const c = parsePostgresUrl(`postgresql://app%20user:${encodeURIComponent("p@ss:w/o'rd%41")}@db.example.internal:6543/my%20db?sslmode=verify-full`);
    expect(c).toMatchObject({ user: 'app user', password: "p@ss:w/o'rd%41", host: 'db.example.internal', port: 6543, database: 'my db', sslmode: 'verify-full' });
    expect(c.url).toBeInstanceOf(URL);
  });

  it('defaults the port to 5432, the database to the user name and sslmode to disable; reads IPv6 literals', () => {
    expect(parsePostgresUrl(`postgres://bob:${PASSWORD}@127.0.0.1`)).toMatchObject({ port: 5432, database: 'bob', sslmode: 'disable' });
    expect(parsePostgresUrl(`postgres://bob:${PASSWORD}@[::1]:5433/`)).toMatchObject({ host: '::1', port: 5433, database: 'bob' });
  });

  const junk: [string, string][] = [
    ['empty', ''],
    ['not a URL', 'definitely not a url'],
    ['another scheme', `https://bob:${PASSWORD}@example.com/db`],
    ['no user', `postgres://:${PASSWORD}@db/app`],
    ['no password', 'postgres://bob@db/app'],
    ['empty password', 'postgres://bob:@db/app'],
    ['no host', `postgres://bob:${PASSWORD}@/app`],
    ['a unix socket as host', `postgres://bob:${PASSWORD}@%2Fvar%2Frun%2Fpostgresql/app`],
    ['host parameter', `postgres://bob:${PASSWORD}@db/app?host=/var/run/postgresql`],
    ['a file parameter', `postgres://bob:${PASSWORD}@db/app?sslcert=/etc/shadow`],
    ['options parameter', `postgres://bob:${PASSWORD}@db/app?options=-c%20log_statement%3Dall`],
    ['a weird parameter name', `postgres://bob:${PASSWORD}@db/app?${encodeURIComponent(PASSWORD)}=1`],
    ['an unknown sslmode', `postgres://bob:${PASSWORD}@db/app?sslmode=prefer`],
    ['malformed percent-encoding', `postgres://bob:${PASSWORD}%ZZ@db/app`],
    ['NUL in the password', `postgres://bob:${PASSWORD}%00@db/app`],
    ['a fragment', `postgres://bob:${PASSWORD}#x@db/app`],
    ['port 0', `postgres://bob:${PASSWORD}@db:0/app`],
    ['port out of range', `postgres://bob:${PASSWORD}@db:70000/app`],
    ['two path segments', `postgres://bob:${PASSWORD}@db/app/extra`],
    ['too long', `postgres://bob:${PASSWORD}@db/${'a'.repeat(5000)}`],
  ];
  it.each(junk)('rejects %s, naming the field and never echoing the password', (_label, value) => {
    const err = (() => {
      try {
        parsePostgresUrl(value, 'rotation.policy.connect_url');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.message).toMatch(/^rotation\.policy\.connect_url /);
    expect(Object.keys(v.details)).toEqual(['rotation.policy.connect_url']);
    expect(JSON.stringify({ m: v.message, d: v.details })).not.toContain(PASSWORD);
  });

  it('names the default field "value"', () => {
    expect(() => parsePostgresUrl('nope')).toThrow(expect.objectContaining({ details: { value: expect.any(String) } }));
  });
});

describe('withPassword', () => {
  const base = `postgresql://app%20user:${PASSWORD}@db.internal:6543/app?sslmode=require&application_name=svc`;
  const hostile = ['%41%', 'p@ss:w/o?r#d&x=y', `it's "quoted" \\ $$ $tag$`, 'ünï☃code 𝄞', ' leading and trailing ', '+plus+', '%10'];

  it.each(hostile)('replaces the password so that %j reads back exactly, keeping everything else', (password) => {
    const next = withPassword(base, password);
    const parsed = parsePostgresUrl(next);
    expect(parsed.password).toBe(password);
    expect(parsed).toMatchObject({ user: 'app user', host: 'db.internal', port: 6543, database: 'app', sslmode: 'require' });
    expect(parsed.url.protocol).toBe('postgresql:');
    expect(parsed.url.searchParams.get('application_name')).toBe('svc');
    expect(next).not.toContain(PASSWORD);
  });

  it('refuses an empty or NUL password and a broken URL', () => {
    expect(() => withPassword(base, '')).toThrow(ValidationError);
    expect(() => withPassword(base, 'a\0b')).toThrow(ValidationError);
    expect(() => withPassword('mysql://u:p@h/db', 'x')).toThrow(ValidationError);
  });
});

describe('generatePassword', () => {
  it('is 32 URL-safe characters by default, and the length asked for', () => {
    expect(generatePassword()).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(generatePassword(16)).toHaveLength(16);
    expect(generatePassword(1024)).toHaveLength(1024);
    expect(encodeURIComponent(generatePassword(200))).toMatch(/^[A-Za-z0-9_-]{200}$/);
  });

  it('refuses lengths outside 16–1024 and non-integers', () => {
    for (const n of [0, 15, 1025, 20.5, Number.NaN]) expect(() => generatePassword(n)).toThrow(RangeError);
  });

  it('draws every character of the alphabet about equally often and never repeats a password', () => {
    const counts = new Map<string, number>();
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = generatePassword(32);
      seen.add(p);
      for (const ch of p) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(2000);
    expect(counts.size).toBe(64);
    // 64,000 draws: 1,000 expected per character, standard deviation ≈ 31.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1200);
    }
  });
});
