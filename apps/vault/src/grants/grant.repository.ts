type Run = <T>(sql: string, params?: unknown[]) => Promise<T>;

export const REVOKE_REASONS = ['tool_updated', 'tool_deleted', 'owner_revoked', 'secret_deleted'] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];

/** A grant of a secret to a tool, as stored (never a value). */
export interface GrantRecord {
  readonly secretId: string;
  readonly toolId: string;
  readonly toolName: string;
  readonly as: string;
  readonly grantedBy: string;
  readonly grantedAt: Date;
  readonly revokedAt: Date | null;
  readonly revokedBy: string | null;
  readonly revokeReason: RevokeReason | null;
}

interface GrantRow {
  secret_id: string;
  tool_id: string;
  tool_name: string;
  binding: string;
  granted_by: string;
  created_at: Date | string;
  revoked_at: Date | string | null;
  revoked_by: string | null;
  revoke_reason: RevokeReason | null;
}

const COLUMNS = 'g.secret_id, g.tool_id, g.tool_name, g.binding, g.granted_by, g.created_at, g.revoked_at, g.revoked_by, g.revoke_reason';
const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));
const toRecord = (r: GrantRow): GrantRecord => ({
  secretId: r.secret_id,
  toolId: r.tool_id,
  toolName: r.tool_name,
  as: r.binding,
  grantedBy: r.granted_by,
  grantedAt: date(r.created_at),
  revokedAt: r.revoked_at === null ? null : date(r.revoked_at),
  revokedBy: r.revoked_by,
  revokeReason: r.revoke_reason,
});

/**
 * Queries of `vault.tool_grants` (no caller visibility: the grant service
 * decides who may ask). Merged into the secret repository's queries, so they
 * run in its transactions next to the audit records they cause.
 */
export function grantQueries(run: Run) {
  return {
    /** Serialises grant changes of one tool for the rest of the transaction. */
    async lockTool(toolId: string): Promise<void> {
      await run(`select pg_advisory_xact_lock(hashtextextended('vault.tool_grants:' || ?, 0))`, [toolId]);
    },

    async activeGrantsOfTool(toolId: string): Promise<GrantRecord[]> {
      const rows = await run<GrantRow[]>(`select ${COLUMNS} from vault.tool_grants g where g.tool_id = ? and g.revoked_at is null order by g.id`, [toolId]);
      return rows.map(toRecord);
    },

    async insertGrant(g: { secretId: string; toolId: string; toolName: string; as: string; grantedBy: string }): Promise<void> {
      await run('insert into vault.tool_grants (secret_id, tool_id, tool_name, binding, granted_by) values (?, ?, ?, ?, ?)', [g.secretId, g.toolId, g.toolName, g.as, g.grantedBy]);
    },

    /** Keeps the display name of a tool's active grants current; the secrets whose grants it renamed. */
    async renameToolGrants(toolId: string, toolName: string): Promise<string[]> {
      const rows = await run<{ secret_id: string }[]>('update vault.tool_grants set tool_name = ? where tool_id = ? and revoked_at is null and tool_name <> ? returning secret_id', [toolName, toolId, toolName]);
      return rows.map((r) => r.secret_id);
    },

    /**
     * Revokes the active grants matching `where` (a tool's, one binding of it,
     * or one secret's to a tool) and returns what it revoked.
     */
    async revokeGrants(where: { toolId: string; secretId?: string; as?: string }, by: string, reason: RevokeReason): Promise<GrantRecord[]> {
      const rows = await run<GrantRow[]>(
        `update vault.tool_grants g set revoked_at = now(), revoked_by = ?, revoke_reason = ?
         where g.tool_id = ? and g.revoked_at is null ${where.secretId ? 'and g.secret_id = ?' : ''} ${where.as ? 'and g.binding = ?' : ''}
         returning ${COLUMNS}`,
        [by, reason, where.toolId, ...(where.secretId ? [where.secretId] : []), ...(where.as ? [where.as] : [])],
      );
      return rows.map(toRecord);
    },

    async listGrantsOfSecret(secretId: string, filter: { includeRevoked: boolean; limit: number; offset: number }): Promise<{ items: GrantRecord[]; total: number }> {
      const where = `g.secret_id = ?${filter.includeRevoked ? '' : ' and g.revoked_at is null'}`;
      const rows = await run<GrantRow[]>(`select ${COLUMNS} from vault.tool_grants g where ${where} order by g.created_at desc, g.id desc limit ? offset ?`, [secretId, filter.limit, filter.offset]);
      const [count] = await run<{ n: string }[]>(`select count(*) as n from vault.tool_grants g where ${where}`, [secretId]);
      return { items: rows.map(toRecord), total: Number(count?.n ?? 0) };
    },

    /**
     * What a reveal for `toolId` may rely on: whether an active grant of the
     * secret to the tool by `grantedBy` exists, else whether one was revoked.
     */
    async grantState(secretId: string, toolId: string, grantedBy: string): Promise<'active' | 'revoked' | 'none'> {
      const [row] = await run<{ active: boolean; revoked: boolean }[]>(
        `select coalesce(bool_or(g.revoked_at is null), false) as active, coalesce(bool_or(g.revoked_at is not null), false) as revoked
         from vault.tool_grants g where g.secret_id = ? and g.tool_id = ? and g.granted_by = ?`,
        [secretId, toolId, grantedBy],
      );
      return row?.active ? 'active' : row?.revoked ? 'revoked' : 'none';
    },
  };
}
