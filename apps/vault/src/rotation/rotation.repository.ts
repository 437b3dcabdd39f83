import type { OutboxMessage } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SecretRow } from '../secrets/secret.repository.ts';
import type { SealedVersion } from '../secrets/secret.types.ts';

type Run = <T>(sql: string, params?: unknown[]) => Promise<T>;

const ROW = `s.id, s.owner_id, s.name, s.description, s.tags, s.shared_with_roles, s.expires_at, s.is_active,
  s.rotation_enabled, s.rotation_interval_days, s.rotation_strategy, s.next_rotation_at, s.last_rotated_at,
  s.current_version, s.created_at, s.updated_at, s.rotation_policy, s.rotation_state, s.rotation_last_error, s.pending_version`;

export interface DueRow {
  readonly secretId: string;
  readonly ownerId: string;
  readonly name: string;
  readonly strategy: string;
  readonly currentVersion: number;
  readonly dueAt: Date;
}

export interface ExpiryRow {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly expiresAt: Date;
}

const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));

/**
 * Rotation and expiry queries of schema `vault` (system-side: no caller
 * visibility; the service decides who may ask). Merged into the secret
 * repository's queries, so they run in its transactions.
 */
export function rotationQueries(em: EntityManager, run: Run) {
  return {
    /** The secret row, deleted or not, locked for the rest of the transaction. */
    async lockForRotation(id: string): Promise<(SecretRow & { deleted: boolean }) | undefined> {
      const rows = await run<(SecretRow & { deleted: boolean })[]>(`select ${ROW}, s.deleted_at is not null as deleted from vault.secrets s where s.id = ? for update`, [id]);
      return rows[0];
    },

    /** The secret row as it is, without a lock (the optimistic path re-checks it in its write). */
    async readForRotation(id: string): Promise<(SecretRow & { deleted: boolean }) | undefined> {
      const rows = await run<(SecretRow & { deleted: boolean })[]>(`select ${ROW}, s.deleted_at is not null as deleted from vault.secrets s where s.id = ?`, [id]);
      return rows[0];
    },

    /**
     * A whole single-phase rotation in one statement (autocommit): the new
     * version, its promotion and the outbox messages, only if the row is
     * still exactly as read (live, active, same versions, strategy and policy).
     * Undefined when it changed meanwhile: nothing was written.
     */
    async commitRotation(r: {
      readonly read: SecretRow;
      readonly sealed: SealedVersion;
      readonly createdBy: string;
      readonly at: Date;
      readonly messages: readonly OutboxMessage[];
    }): Promise<SecretRow | undefined> {
      const values = r.messages.map(() => '(?::text, ?::text, ?::text, ?::bytea, ?::text, ?::jsonb)').join(', ');
      const rows = await run<SecretRow[]>(
        `with upd as (
           update vault.secrets s set current_version = ?, pending_version = null, rotation_state = 'ok', rotation_last_error = null, last_rotated_at = ?,
             next_rotation_at = case when s.rotation_enabled and s.rotation_interval_days is not null
                                     then ?::timestamptz + make_interval(secs => s.rotation_interval_days * 86400) end,
             updated_at = now()
           where s.id = ? and s.deleted_at is null and s.is_active and s.current_version = ? and s.pending_version is not distinct from ?::int
             and s.rotation_strategy = ? and s.rotation_policy = ?::jsonb
           returning ${ROW}),
         ver as (
           insert into vault.secret_versions (secret_id, version, ciphertext, wrapped_key, key_id, created_by, created_at)
           select id, ?, ?, ?, ?, ?, ? from upd),
         ob as (
           insert into vault.outbox (event_id, subject, event_type, payload, aggregate, trace_headers)
           select m.* from (values ${values}) m(event_id, subject, event_type, payload, aggregate, trace_headers) where exists (select 1 from upd)
           on conflict (event_id) do nothing)
         select * from upd`,
        [
          r.sealed.version, r.at, r.at, r.read.id, r.read.current_version, r.read.pending_version, r.read.rotation_strategy, JSON.stringify(r.read.rotation_policy ?? {}),
          r.sealed.version, r.sealed.ciphertext, r.sealed.wrappedKey, r.sealed.keyId, r.createdBy, r.at,
          ...r.messages.flatMap((m) => [m.eventId, m.subject, m.eventType, Buffer.from(m.payload), m.aggregate, JSON.stringify(m.traceHeaders)]),
        ],
      );
      return rows[0];
    },

    async sealedVersion(secretId: string, version: number): Promise<SealedVersion | undefined> {
      const rows = await run<{ version: number; ciphertext: Buffer; wrapped_key: Buffer; key_id: string }[]>(
        'select version, ciphertext, wrapped_key, key_id from vault.secret_versions where secret_id = ? and version = ?',
        [secretId, version],
      );
      const r = rows[0];
      return r ? { version: r.version, ciphertext: r.ciphertext, wrappedKey: r.wrapped_key, keyId: r.key_id } : undefined;
    },

    /** Another live secret's current sealed value, only if `ownerId` owns it (rotator and signing secrets). */
    async ownedCurrent(secretId: string, ownerId: string): Promise<{ sealed: SealedVersion; active: boolean } | undefined> {
      const rows = await run<{ version: number; ciphertext: Buffer; wrapped_key: Buffer; key_id: string; active: boolean }[]>(
        `select sv.version, sv.ciphertext, sv.wrapped_key, sv.key_id, (s.is_active and (s.expires_at is null or s.expires_at > now())) as active
         from vault.secrets s join vault.secret_versions sv on sv.secret_id = s.id and sv.version = s.current_version
         where s.id = ? and s.owner_id = ? and s.deleted_at is null`,
        [secretId, ownerId],
      );
      const r = rows[0];
      return r ? { sealed: { version: r.version, ciphertext: r.ciphertext, wrappedKey: r.wrapped_key, keyId: r.key_id }, active: r.active } : undefined;
    },

    /** Makes `version` current: the rotation is finished. The secret's row as it is now. */
    async promote(id: string, version: number, rotatedAt: Date, nextRotationAt: Date | null): Promise<SecretRow> {
      const rows = await run<SecretRow[]>(
        `update vault.secrets s set current_version = ?, pending_version = null, rotation_state = 'ok', rotation_last_error = null,
           last_rotated_at = ?, next_rotation_at = ?, updated_at = now() where s.id = ? returning ${ROW}`,
        [version, rotatedAt, nextRotationAt, id],
      );
      return rows[0]!;
    },

    /** Records why a rotation failed; `state` failed marks it for the owner (the due scan skips it). */
    async recordRotationError(id: string, error: string, state?: 'failed'): Promise<void> {
      await run(`update vault.secrets set rotation_last_error = ?, rotation_state = coalesce(?, rotation_state), updated_at = now() where id = ?`, [
        error.slice(0, 1_000),
        state ?? null,
        id,
      ]);
    },

    /**
     * Adds events to the outbox in this transaction. Event ids are
     * deterministic (a repeated job result, a second expiry pass): one
     * already written is kept, not duplicated.
     */
    async emit(messages: readonly OutboxMessage[]): Promise<void> {
      if (messages.length === 0) return;
      const rows = messages.map(() => '(?, ?, ?, ?, ?, ?::jsonb)').join(', ');
      const params = messages.flatMap((m) => [m.eventId, m.subject, m.eventType, Buffer.from(m.payload), m.aggregate, JSON.stringify(m.traceHeaders)]);
      await em
        .getConnection()
        .execute(
          `insert into vault.outbox (event_id, subject, event_type, payload, aggregate, trace_headers) values ${rows} on conflict (event_id) do nothing`,
          params,
          'run',
          em.getTransactionContext(),
        );
    },

    /** Due rotations at `now`, oldest first, after the (dueAt, id) cursor. Failed ones wait for their owner. */
    async listDue(now: Date, after: { dueAt: Date; id: string } | undefined, limit: number): Promise<DueRow[]> {
      const cursor = after ? 'and (s.next_rotation_at, s.id) > (?::timestamptz, ?::uuid)' : '';
      const rows = await run<{ id: string; owner_id: string; name: string; rotation_strategy: string; current_version: number; next_rotation_at: Date | string }[]>(
        `select s.id, s.owner_id, s.name, s.rotation_strategy, s.current_version, s.next_rotation_at from vault.secrets s
         where s.rotation_enabled and s.is_active and s.deleted_at is null and s.next_rotation_at <= ? and s.rotation_state <> 'failed' ${cursor}
         order by s.next_rotation_at, s.id limit ?`,
        [now, ...(after ? [after.dueAt, after.id] : []), limit],
      );
      return rows.map((r) => ({ secretId: r.id, ownerId: r.owner_id, name: r.name, strategy: r.rotation_strategy, currentVersion: r.current_version, dueAt: date(r.next_rotation_at) }));
    },

    /** Deactivates up to `limit` active secrets whose expiry has passed (skipping rows another replica holds). */
    async expireBatch(now: Date, limit: number): Promise<ExpiryRow[]> {
      const rows = await run<{ id: string; owner_id: string; name: string; expires_at: Date | string }[]>(
        `update vault.secrets s set is_active = false, updated_at = now()
         where s.id in (select id from vault.secrets where is_active and deleted_at is null and expires_at is not null and expires_at <= ?
                        order by expires_at, id limit ? for update skip locked)
         returning s.id, s.owner_id, s.name, s.expires_at`,
        [now, limit],
      );
      return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, name: r.name, expiresAt: date(r.expires_at) }));
    },

    /**
     * Secrets inside one of the thresholds (days before expiry) and not yet
     * warned for it or a smaller one, each with the smallest threshold it is
     * inside; records that warning. At most `limit`, soonest expiry first.
     */
    async warnBatch(now: Date, thresholdDays: readonly number[], limit: number): Promise<(ExpiryRow & { thresholdDays: number })[]> {
      const maxDays = Math.max(...thresholdDays);
      const rows = await run<{ id: string; owner_id: string; name: string; expires_at: Date | string; threshold: number }[]>(
        `with due as (
           select s.id, th.d as threshold from vault.secrets s
           cross join lateral (select min(t.d) as d from (select jsonb_array_elements_text(?::jsonb)::int as d) t
                               where s.expires_at <= ?::timestamptz + t.d * interval '1 day') th
           where s.is_active and s.deleted_at is null and s.expires_at > ?::timestamptz
             and s.expires_at <= ?::timestamptz + ? * interval '1 day'
             and th.d is not null and (s.expiry_warned_days is null or s.expiry_warned_days > th.d)
           order by s.expires_at, s.id limit ?
           for update of s skip locked)
         update vault.secrets s set expiry_warned_days = due.threshold from due where s.id = due.id
         returning s.id, s.owner_id, s.name, s.expires_at, due.threshold`,
        [JSON.stringify(thresholdDays), now, now, now, maxDays, limit],
      );
      return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, name: r.name, expiresAt: date(r.expires_at), thresholdDays: Number(r.threshold) }));
    },
  };
}
