import { ConflictError } from '@csda/errors';
import { enqueueOutbox, type AuditFact, type AuditOutbox, type Subjects } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';
import { grantQueries } from '../grants/grant.repository.ts';
import { rotationQueries } from '../rotation/rotation.repository.ts';
import { secretChangedMessage, type SecretChanged } from './secret-events.ts';
import type { RotationPolicy, RotationState, RotationStatus, RotationStrategy, SealedVersion, SecretRecord, VersionRecord } from './secret.types.ts';

// MikroORM expands array parameters into lists, so arrays travel as JSON text.
const TEXT_ARRAY = 'array(select jsonb_array_elements_text(?::jsonb))';
const COLUMNS = `s.id, s.owner_id, s.name, s.description, s.tags, s.shared_with_roles, s.expires_at, s.is_active,
  s.rotation_enabled, s.rotation_interval_days, s.rotation_strategy, s.next_rotation_at, s.last_rotated_at,
  s.current_version, s.created_at, s.updated_at, s.rotation_policy, s.rotation_state, s.rotation_last_error, s.pending_version`;

/** rotation.status in SQL, the same rule as rotationStatus() in secret.types.ts. */
export const ROTATION_STATUS_SQL = `(case when s.rotation_state = 'failed' then 'failed' when s.rotation_state = 'pending' then 'pending'
  when s.rotation_enabled and s.next_rotation_at <= now() then (case when s.rotation_strategy = 'manual' then 'overdue' else 'due' end)
  else 'ok' end)`;

export interface SecretRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  tags: string[];
  shared_with_roles: string[];
  expires_at: Date | string | null;
  is_active: boolean;
  rotation_enabled: boolean;
  rotation_interval_days: number | null;
  rotation_strategy: RotationStrategy;
  next_rotation_at: Date | string | null;
  last_rotated_at: Date | string | null;
  current_version: number;
  created_at: Date | string;
  updated_at: Date | string;
  rotation_policy: RotationPolicy | null;
  rotation_state: RotationState;
  rotation_last_error: string | null;
  pending_version: number | null;
}

// The driver returns timestamps as strings on raw queries.
export const toDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));

export const toRecord = (r: SecretRow): SecretRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  name: r.name,
  description: r.description,
  tags: r.tags,
  sharedWithRoles: r.shared_with_roles,
  expiresAt: toDate(r.expires_at),
  isActive: r.is_active,
  rotation: {
    enabled: r.rotation_enabled,
    intervalDays: r.rotation_interval_days,
    strategy: r.rotation_strategy,
    policy: r.rotation_policy ?? {},
    nextRotationAt: toDate(r.next_rotation_at),
    lastRotatedAt: toDate(r.last_rotated_at),
    state: r.rotation_state,
    lastError: r.rotation_last_error,
    pendingVersion: r.pending_version,
  },
  currentVersion: r.current_version,
  createdAt: toDate(r.created_at)!,
  updatedAt: toDate(r.updated_at)!,
});

/** Who may see a secret: its owner, holders of a role it is shared with, or everyone (`secrets:admin`). */
export interface Visibility {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly all: boolean;
}

export interface NewSecret {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly sharedWithRoles: readonly string[];
  readonly expiresAt: Date | null;
  readonly isActive?: boolean;
  readonly rotationEnabled: boolean;
  readonly rotationIntervalDays: number | null;
  readonly rotationStrategy: RotationStrategy;
  readonly rotationPolicy?: RotationPolicy;
  readonly nextRotationAt: Date | null;
  readonly lastRotatedAt?: Date | null;
  readonly createdAt?: Date;
}

export interface SecretChanges {
  name?: string;
  description?: string;
  tags?: readonly string[];
  sharedWithRoles?: readonly string[];
  expiresAt?: Date | null;
  isActive?: boolean;
  rotationEnabled?: boolean;
  rotationIntervalDays?: number | null;
  rotationStrategy?: RotationStrategy;
  rotationPolicy?: RotationPolicy;
  nextRotationAt?: Date | null;
  lastRotatedAt?: Date | null;
  rotationState?: RotationState;
  rotationLastError?: string | null;
  pendingVersion?: number | null;
}

const CHANGE_COLUMNS: Record<keyof SecretChanges, string> = {
  name: 'name',
  description: 'description',
  tags: 'tags',
  sharedWithRoles: 'shared_with_roles',
  expiresAt: 'expires_at',
  isActive: 'is_active',
  rotationEnabled: 'rotation_enabled',
  rotationIntervalDays: 'rotation_interval_days',
  rotationStrategy: 'rotation_strategy',
  rotationPolicy: 'rotation_policy',
  nextRotationAt: 'next_rotation_at',
  lastRotatedAt: 'last_rotated_at',
  rotationState: 'rotation_state',
  rotationLastError: 'rotation_last_error',
  pendingVersion: 'pending_version',
};

const visibleClause = (v: Visibility): { sql: string; params: unknown[] } =>
  v.all ? { sql: 'true', params: [] } : { sql: `(s.owner_id = ? or s.shared_with_roles && ${TEXT_ARRAY})`, params: [v.userId, JSON.stringify(v.roles)] };

function createQueries(em: EntityManager, outbox: Pick<AuditOutbox, 'write'>, subjects: Subjects) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;
  /** A write that may take a name already used by another of the owner's live secrets → CONFLICT. */
  const runNamed = (name: string | undefined, sql: string, params: unknown[]) =>
    run(sql, params).catch((err: unknown) => {
      if ((err as { code?: string }).code === '23505' && String((err as Error).message).includes('secrets_owner_name_unique')) {
        throw new ConflictError(`A secret named "${name ?? ''}" already exists`, { name: name ?? '' });
      }
      throw err;
    });

  return {
    async insertSecret(s: NewSecret): Promise<void> {
      await runNamed(
        s.name,
        `insert into vault.secrets (id, owner_id, name, description, tags, shared_with_roles, expires_at, is_active,
           rotation_enabled, rotation_interval_days, rotation_strategy, rotation_policy, next_rotation_at, last_rotated_at, created_at, updated_at)
         values (?, ?, ?, ?, ${TEXT_ARRAY}, ${TEXT_ARRAY}, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?)`,
        [
          s.id, s.ownerId, s.name, s.description, JSON.stringify(s.tags), JSON.stringify(s.sharedWithRoles), s.expiresAt, s.isActive ?? true,
          s.rotationEnabled, s.rotationIntervalDays, s.rotationStrategy, JSON.stringify(s.rotationPolicy ?? {}), s.nextRotationAt, s.lastRotatedAt ?? null,
          s.createdAt ?? new Date(), s.createdAt ?? new Date(),
        ],
      );
    },

    /**
     * Stores a version and makes it current (`current`), or the secret's
     * pending version (`pending`, two-phase rotation), or only stores it
     * (`stored`: the caller promotes it in this transaction).
     */
    async insertVersion(secretId: string, sealed: SealedVersion, createdBy: string, createdAt = new Date(), mode: 'current' | 'pending' | 'stored' = 'current'): Promise<void> {
      await run(
        'insert into vault.secret_versions (secret_id, version, ciphertext, wrapped_key, key_id, created_by, created_at) values (?, ?, ?, ?, ?, ?, ?)',
        [secretId, sealed.version, sealed.ciphertext, sealed.wrappedKey, sealed.keyId, createdBy, createdAt],
      );
      if (mode === 'current') await run('update vault.secrets set current_version = ?, updated_at = now() where id = ?', [sealed.version, secretId]);
      else if (mode === 'pending') await run(`update vault.secrets set pending_version = ?, rotation_state = 'pending', updated_at = now() where id = ?`, [sealed.version, secretId]);
    },

    /** The next free version number (a pending or abandoned version keeps its number). */
    async nextVersion(secretId: string): Promise<number> {
      const [row] = await run<{ v: number }[]>('select coalesce(max(version), 0) + 1 as v from vault.secret_versions where secret_id = ?', [secretId]);
      return Number(row?.v ?? 1);
    },

    /** A visible, not deleted secret; `lock` takes a row lock for check-and-set. */
    async findVisible(id: string, visibility: Visibility, lock = false): Promise<SecretRecord | undefined> {
      const v = visibleClause(visibility);
      const rows = await run<SecretRow[]>(
        `select ${COLUMNS} from vault.secrets s where s.id = ? and s.deleted_at is null and ${v.sql}${lock ? ' for update' : ''}`,
        [id, ...v.params],
      );
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    async list(visibility: Visibility, filter: { tag?: string; namePrefix?: string; rotationStatus?: RotationStatus; limit: number; offset: number }): Promise<{ items: SecretRecord[]; total: number }> {
      const v = visibleClause(visibility);
      const where = [`s.deleted_at is null`, v.sql];
      const params = [...v.params];
      if (filter.tag) {
        where.push(`? = any(s.tags)`);
        params.push(filter.tag);
      }
      if (filter.namePrefix) {
        where.push(`s.name like ? escape '\\'`);
        params.push(`${filter.namePrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      }
      if (filter.rotationStatus) {
        where.push(`${ROTATION_STATUS_SQL} = ?`);
        params.push(filter.rotationStatus);
      }
      const rows = await run<(SecretRow & { total: string })[]>(
        `select ${COLUMNS}, count(*) over () as total from vault.secrets s where ${where.join(' and ')}
         order by s.created_at desc, s.id limit ? offset ?`,
        [...params, filter.limit, filter.offset],
      );
      if (rows.length === 0 && filter.offset > 0) {
        const [count] = await run<{ n: string }[]>(`select count(*) as n from vault.secrets s where ${where.join(' and ')}`, params);
        return { items: [], total: Number(count?.n ?? 0) };
      }
      return { items: rows.map(toRecord), total: Number(rows[0]?.total ?? 0) };
    },

    async update(id: string, changes: SecretChanges): Promise<void> {
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [key, value] of Object.entries(changes) as [keyof SecretChanges, unknown][]) {
        if (value === undefined) continue;
        const column = CHANGE_COLUMNS[key];
        if (key === 'tags' || key === 'sharedWithRoles') {
          sets.push(`${column} = ${TEXT_ARRAY}`);
          params.push(JSON.stringify(value));
        } else if (key === 'rotationPolicy') {
          sets.push(`${column} = ?::jsonb`);
          params.push(JSON.stringify(value));
        } else {
          sets.push(`${column} = ?`);
          params.push(value);
        }
      }
      if (sets.length === 0) return;
      await runNamed(changes.name, `update vault.secrets set ${sets.join(', ')}, updated_at = now() where id = ? and deleted_at is null`, [...params, id]);
    },

    /** Deletes the secret and revokes its tool grants as `by` (the user deleting it). */
    async softDelete(id: string, by: string): Promise<{ toolId: string; toolName: string; as: string; grantedBy: string }[]> {
      await run('update vault.secrets set deleted_at = now(), is_active = false, updated_at = now() where id = ? and deleted_at is null', [id]);
      // A deleted secret is granted to no tool any more (the grant history stays).
      const revoked = await run<{ tool_id: string; tool_name: string; binding: string; granted_by: string }[]>(
        `update vault.tool_grants set revoked_at = now(), revoked_by = ?, revoke_reason = 'secret_deleted' where secret_id = ? and revoked_at is null
         returning tool_id, tool_name, binding, granted_by`,
        [by, id],
      );
      return revoked.map((r) => ({ toolId: r.tool_id, toolName: r.tool_name, as: r.binding, grantedBy: r.granted_by }));
    },

    /** The sealed value of `version` (0 = current) of a visible secret, with its metadata, in one query. */
    async findSealed(id: string, visibility: Visibility, version: number): Promise<{ secret: SecretRecord; sealed: SealedVersion } | undefined> {
      const v = visibleClause(visibility);
      const rows = await run<(SecretRow & { version: number; ciphertext: Buffer; wrapped_key: Buffer; key_id: string })[]>(
        `select ${COLUMNS}, sv.version, sv.ciphertext, sv.wrapped_key, sv.key_id
         from vault.secrets s join vault.secret_versions sv on sv.secret_id = s.id
         where s.id = ? and s.deleted_at is null and ${v.sql} and sv.version = (case when ? = 0 then s.current_version else ? end)`,
        [id, ...v.params, version, version],
      );
      const row = rows[0];
      if (!row) return undefined;
      return { secret: toRecord(row), sealed: { version: row.version, ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id } };
    },

    async listVersions(id: string): Promise<VersionRecord[]> {
      const rows = await run<{ version: number; key_id: string; created_by: string; created_at: Date | string }[]>(
        'select version, key_id, created_by, created_at from vault.secret_versions where secret_id = ? order by version desc',
        [id],
      );
      return rows.map((r) => ({ version: r.version, keyId: r.key_id, createdBy: r.created_by, createdAt: toDate(r.created_at)! }));
    },

    /** Versions wrapped under a key other than `activeKeyId`, in key order after `after`, for re-wrapping in batches. */
    async versionsNotUnder(activeKeyId: string, after: { secretId: string; version: number } | undefined, limit: number): Promise<(SealedVersion & { secretId: string })[]> {
      const cursor = after ? 'and (secret_id, version) > (?::uuid, ?)' : '';
      const rows = await run<{ secret_id: string; version: number; ciphertext: Buffer; wrapped_key: Buffer; key_id: string }[]>(
        `select secret_id, version, ciphertext, wrapped_key, key_id from vault.secret_versions
         where key_id <> ? ${cursor} order by secret_id, version limit ?`,
        [activeKeyId, ...(after ? [after.secretId, after.version] : []), limit],
      );
      return rows.map((r) => ({ secretId: r.secret_id, version: r.version, ciphertext: r.ciphertext, wrappedKey: r.wrapped_key, keyId: r.key_id }));
    },

    /** Replaces a version's wrapped key only if it is still under `expectedKeyId` (safe to run concurrently). */
    async replaceWrappedKey(secretId: string, version: number, expectedKeyId: string, wrappedKey: Buffer, keyId: string): Promise<boolean> {
      const rows = await run<{ version: number }[]>(
        'update vault.secret_versions set wrapped_key = ?, key_id = ? where secret_id = ? and version = ? and key_id = ? returning version',
        [wrappedKey, keyId, secretId, version, expectedKeyId],
      );
      return rows.length === 1;
    },

    async countByKeyId(): Promise<Record<string, number>> {
      const rows = await run<{ key_id: string; n: string }[]>('select key_id, count(*) as n from vault.secret_versions group by key_id');
      return Object.fromEntries(rows.map((r) => [r.key_id, Number(r.n)]));
    },

    async legacyImported(legacyId: string): Promise<boolean> {
      return (await run<{ secret_id: string }[]>('select secret_id from vault.legacy_imports where legacy_id = ?', [legacyId])).length > 0;
    },

    async recordLegacyImport(legacyId: string, secretId: string): Promise<void> {
      await run('insert into vault.legacy_imports (legacy_id, secret_id) values (?, ?)', [legacyId, secretId]);
    },
    /** Adds an audit record to the outbox, in this transaction when there is one. */
    audit(fact: AuditFact): Promise<void> {
      return outbox.write(em, [fact]);
    },

    /** Adds the ResourceChanged of each secret that changed to the outbox, in this transaction (the gateway's cache invalidation; ids only). */
    changed(changes: readonly SecretChanged[]): Promise<void> {
      return enqueueOutbox(em, 'vault', changes.map((c) => secretChangedMessage(subjects, c)));
    },

    /** The owners of these secrets, deleted or not. */
    async ownersOf(ids: readonly string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map();
      const rows = await run<{ id: string; owner_id: string }[]>(`select id, owner_id from vault.secrets where id = any(${TEXT_ARRAY}::uuid[])`, [JSON.stringify([...new Set(ids)])]);
      return new Map(rows.map((r) => [r.id, r.owner_id]));
    },
    ...rotationQueries(em, run),
    ...grantQueries(run),
  };
}

/** Queries of schema `vault`, bound to one EntityManager (or one transaction). */
export type SecretQueries = ReturnType<typeof createQueries>;

/**
 * The only place that touches schema `vault`. One instance per request (its
 * own EntityManager fork). Audit records go to the vault's outbox: inside
 * `transaction` on its connection, committing with the change.
 */
export function createSecretRepository(em: EntityManager, outbox: AuditOutbox, subjects: Subjects) {
  const queries = createQueries(em, outbox, subjects);
  return {
    ...queries,
    /** Records an audit fact on its own (reveals, refusals): committed when this resolves, group-committed with concurrent ones. */
    audit: (fact: AuditFact): Promise<void> => outbox.record(fact),
    /** Asks the outbox relay to publish now (after an autocommit write to the outbox). */
    kick: (): void => outbox.kick(),
    /** Runs `work` in one transaction, with queries bound to it; its audit records are relayed after the commit. */
    async transaction<T>(work: (tx: SecretQueries) => Promise<T>): Promise<T> {
      const result = await em.transactional((txEm) => work(createQueries(txEm as EntityManager, outbox, subjects)));
      outbox.kick();
      return result;
    },
  };
}

export type SecretRepository = ReturnType<typeof createSecretRepository>;
