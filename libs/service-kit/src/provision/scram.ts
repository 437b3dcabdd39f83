import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * A PostgreSQL SCRAM-SHA-256 password verifier (RFC 5802 / 7677, the format
 * of pg_authid.rolpassword), computed here like psql's `\password` does, so
 * `ALTER ROLE … PASSWORD '<verifier>'` never sends the password itself to the
 * server (where statement logging could record it). The password goes through
 * SASLprep's mapping first, as libpq and node-postgres (≥ 8.23) do when they
 * log in, so non-ASCII passwords log in too.
 */
export async function scramSha256Verifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): Promise<string> {
  const iterations = options.iterations ?? 4096;
  const salt = options.salt ?? randomBytes(16);
  const salted = await pbkdf2Async(Buffer.from(saslprep(password), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * SASLprep's mapping steps (RFC 4013: non-ASCII spaces → space, "mapped to
 * nothing" removed, NFKC), as libpq and node-postgres apply them to the
 * password when they log in with SCRAM; the verifier must be made from the
 * same bytes. (Passwords with prohibited characters are rare enough to ignore
 * libpq's raw-bytes fallback for them.)
 */
export function saslprep(password: string): string {
  return (
    password
      .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu, ' ')
      // Zero-width joiners and variation selectors are in the class on purpose: RFC 3454 table B.1 removes them.
      // eslint-disable-next-line no-misleading-character-class
      .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu, '')
      .normalize('NFKC')
  );
}
