// tools/infra/lib.sh's URL parsing, run through bash as ensure.sh uses it.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const lib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../infra/lib.sh');

function parse(url: string, defaultPort: number): Record<string, string> | null {
  const script = `source "$0"; parse_url "$1" "$2" || { echo FAIL; exit 0; }
    printf '%s\\n' "$U_SCHEME" "$U_USER" "$U_PASS" "$U_HOST" "$U_PORT" "$U_PATH" "$U_QUERY" "$U_AUTH$U_HOSTPORT"`;
  const out = execFileSync('bash', ['-c', script, lib, url, String(defaultPort)], { encoding: 'utf8' });
  if (out.trim() === 'FAIL') return null;
  const [scheme, user, pass, host, port, db, query, authority] = out.split('\n');
  return { scheme, user, pass, host, port, db, query, authority } as Record<string, string>;
}

describe('parse_url (tools/infra/lib.sh)', () => {
  it('parses the default DATABASE_URL', () => {
    expect(parse('postgres://postgres@127.0.0.1:5432/csda', 5432)).toEqual({
      scheme: 'postgres', user: 'postgres', pass: '', host: '127.0.0.1', port: '5432', db: 'csda', query: '', authority: 'postgres@127.0.0.1:5432',
    });
  });
  it('fills in the default port and maps localhost to 127.0.0.1', () => {
    expect(parse('redis://localhost', 6379)).toMatchObject({ host: '127.0.0.1', port: '6379', db: '' });
  });
  it('decodes credentials and keeps the query', () => {
    expect(parse('postgresql://app:p%40ss%3Aw@db.example:6543/my%20db?sslmode=disable', 5432)).toMatchObject({
      user: 'app', pass: 'p@ss:w', host: 'db.example', port: '6543', db: 'my db', query: '?sslmode=disable',
    });
  });
  it('handles a password-only Redis URL with a db number', () => {
    expect(parse('redis://:secret@127.0.0.1:6380/2', 6379)).toMatchObject({ user: '', pass: 'secret', port: '6380', db: '2' });
  });
  it('handles IPv6 hosts', () => {
    expect(parse('nats://[::1]:4223', 4222)).toMatchObject({ host: '::1', port: '4223' });
  });
  it('rejects what is not a URL', () => {
    expect(parse('127.0.0.1:5432', 5432)).toBeNull();
  });
});
