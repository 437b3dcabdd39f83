import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { scramSha256Verifier } from './scram.ts';
import { databaseStatements, passwordStatement, PROVISION_LOCK, roleStatements, type RoleSpec } from './sql.ts';

/** A role to provision, with the password to set (none: leave it as it is, e.g. on trust/peer auth). */
export interface RoleRequest extends RoleSpec {
  readonly password?: string;
}

export interface ProvisionReport {
  readonly database: string;
  readonly roles: readonly { service: string; role: string; schema: string; passwordSet: boolean }[];
}

/**
 * SQLSTATEs of races between concurrent provisions of the same cluster-wide
 * roles (two test files, two Jobs): retried, the statements being idempotent.
 */
function isRace(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: string };
  return (
    code === '23505' || // unique_violation (catalog index, e.g. a role created meanwhile)
    code === '42710' || // duplicate_object
    code === '40001' || // serialization_failure
    code === '40P01' || // deadlock_detected
    (code === 'XX000' && /tuple concurrently (updated|deleted)/.test(message ?? ''))
  );
}

async function inTransaction(client: pg.Client, statements: readonly string[], lock?: string): Promise<void> {
  await client.query('BEGIN');
  try {
    if (lock) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function withRetry(attempts: number, run: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= attempts || !isRace(err)) throw err;
      await sleep(25 * 2 ** attempt + Math.floor(Math.random() * 50));
    }
  }
}

/**
 * Provisions, on an open admin connection to the target database, every
 * role, schema and grant of `roles` (see sql.ts for what and why).
 * Idempotent and safe to run concurrently against the same cluster.
 */
export async function provisionDatabase(client: pg.Client, roles: readonly RoleRequest[], attempts = 6): Promise<ProvisionReport> {
  const passwords: string[] = [];
  for (const r of roles) if (r.password !== undefined) passwords.push(passwordStatement(r.role, await scramSha256Verifier(r.password)));
  await withRetry(attempts, () => inTransaction(client, [...roleStatements(roles), ...passwords]));
  await withRetry(attempts, () => inTransaction(client, databaseStatements(roles), PROVISION_LOCK));
  const [{ db } = { db: '' }] = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows;
  return {
    database: db,
    roles: roles.map((r) => ({ service: r.service, role: r.role, schema: r.schema, passwordSet: r.password !== undefined })),
  };
}
