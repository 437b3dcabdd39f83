import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * A PostgreSQL SCRAM-SHA-256 password verifier (RFC 5802 / 7677, the format
 * of pg_authid.rolpassword), computed here like psql's `\password` does, so
 * `ALTER ROLE … PASSWORD '<verifier>'` never sends the password itself to the
 * server (where statement logging could record it). The password is used as
 * its UTF-8 bytes without SASLprep, as node-postgres does when it logs in.
 */
export async function scramSha256Verifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): Promise<string> {
  const iterations = options.iterations ?? 4096;
  const salt = options.salt ?? randomBytes(16);
  const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
