import { ConflictError } from '@csda/errors';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SecretGrant, ToolDefinition, ToolRecord, ToolType } from './tool.types.ts';

/** Who is looking: owners see theirs, everyone sees public tools, role holders see tools shared with their roles. */
export interface Visibility {
  readonly userId: string;
  readonly roles: readonly string[];
}

interface ToolRow {
  id: string;
  owner_id: string;
  owner_name: string;
  owner_roles: string[];
  name: string;
  description: string;
  tool_type: ToolType;
  config: Record<string, unknown>;
  input_schema: Record<string, unknown>;
  timeout_s: number;
  max_output_bytes: string | number;
  network: boolean;
  secrets: { secret_id: string; as: string }[];
  is_public: boolean;
  shared_with_roles: string[];
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = `t.id, t.owner_id, t.owner_name, t.owner_roles, t.name, t.description, t.tool_type, t.config, t.input_schema, t.timeout_s,
  t.max_output_bytes, t.network, t.secrets, t.is_public, t.shared_with_roles, t.version, t.created_at, t.updated_at`;
const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));

const toRecord = (r: ToolRow): ToolRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  ownerRoles: r.owner_roles,
  name: r.name,
  description: r.description,
  toolType: r.tool_type,
  config: json(r.config),
  inputSchema: json(r.input_schema),
  timeoutS: r.timeout_s,
  maxOutputBytes: Number(r.max_output_bytes),
  network: r.network,
  secrets: json(r.secrets).map((s) => ({ secretId: s.secret_id, as: s.as })),
  isPublic: r.is_public,
  sharedWithRoles: r.shared_with_roles,
  version: r.version,
  createdAt: date(r.created_at),
  updatedAt: date(r.updated_at),
});

const grantsJson = (s: readonly SecretGrant[]) => JSON.stringify(s.map((g) => ({ secret_id: g.secretId, as: g.as })));
const textArray = (values: readonly string[]) => `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;

/** The immutable record of one version: what it ran, as it was saved. */
export function definitionJson(d: ToolDefinition): Record<string, unknown> {
  return {
    name: d.name,
    description: d.description,
    tool_type: d.toolType,
    config: d.config,
    input_schema: d.inputSchema,
    timeout_s: d.timeoutS,
    max_output_bytes: d.maxOutputBytes,
    network: d.network,
    secrets: d.secrets.map((g) => ({ secret_id: g.secretId, as: g.as })),
    is_public: d.isPublic,
    shared_with_roles: d.sharedWithRoles,
  };
}

/** The only place that touches `tools.tools` / `tools.tool_versions`. */
function createQueries(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;
  const named = (name: string) => (err: unknown) => {
    if ((err as { code?: string }).code === '23505' && String((err as Error).message).includes('tools_owner_name_unique')) {
      throw new ConflictError(`A tool named "${name}" already exists`, { name });
    }
    throw err;
  };
  const visible = (v: Visibility) => ({ sql: `(t.owner_id = ? or t.is_public or t.shared_with_roles && ?::text[])`, params: [v.userId, textArray(v.roles)] });

  return {
    em,

    async insert(t: { id: string; ownerId: string; ownerName: string; ownerRoles: readonly string[]; definition: ToolDefinition; now: Date }): Promise<void> {
      const d = t.definition;
      await run(
        `insert into tools.tools (id, owner_id, owner_name, owner_roles, name, description, tool_type, config, input_schema, timeout_s, max_output_bytes,
           network, secrets, is_public, shared_with_roles, version, created_at, updated_at)
         values (?, ?, ?, ?::text[], ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, ?::jsonb, ?, ?::text[], 1, ?, ?)`,
        [
          t.id, t.ownerId, t.ownerName, textArray(t.ownerRoles), d.name, d.description, d.toolType, JSON.stringify(d.config), JSON.stringify(d.inputSchema),
          d.timeoutS, d.maxOutputBytes, d.network, grantsJson(d.secrets), d.isPublic, textArray(d.sharedWithRoles), t.now, t.now,
        ],
      ).catch(named(d.name));
      await run('insert into tools.tool_versions (tool_id, version, definition, created_by, created_at) values (?, 1, ?::jsonb, ?, ?)', [t.id, JSON.stringify(definitionJson(d)), t.ownerId, t.now]);
    },

    /** Replaces the definition as version current+1 (the caller holds the row lock). */
    async replace(id: string, version: number, ownerRoles: readonly string[], d: ToolDefinition, by: string, now: Date): Promise<void> {
      await run(
        `update tools.tools set name = ?, description = ?, tool_type = ?, config = ?::jsonb, input_schema = ?::jsonb, timeout_s = ?, max_output_bytes = ?,
           network = ?, secrets = ?::jsonb, is_public = ?, shared_with_roles = ?::text[], owner_roles = ?::text[], version = ?, updated_at = ?
         where id = ? and deleted_at is null`,
        [
          d.name, d.description, d.toolType, JSON.stringify(d.config), JSON.stringify(d.inputSchema), d.timeoutS, d.maxOutputBytes, d.network,
          grantsJson(d.secrets), d.isPublic, textArray(d.sharedWithRoles), textArray(ownerRoles), version, now, id,
        ],
      ).catch(named(d.name));
      await run('insert into tools.tool_versions (tool_id, version, definition, created_by, created_at) values (?, ?, ?::jsonb, ?, ?)', [id, version, JSON.stringify(definitionJson(d)), by, now]);
    },

    async findVisible(id: string, v: Visibility): Promise<ToolRecord | undefined> {
      const vis = visible(v);
      const rows = await run<ToolRow[]>(`select ${COLUMNS} from tools.tools t where t.id = ? and t.deleted_at is null and ${vis.sql}`, [id, ...vis.params]);
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    /** The owner's live tool, locked for a change. */
    async findOwnForUpdate(id: string, ownerId: string): Promise<ToolRecord | undefined> {
      const rows = await run<ToolRow[]>(`select ${COLUMNS} from tools.tools t where t.id = ? and t.owner_id = ? and t.deleted_at is null for update`, [id, ownerId]);
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    /** A live tool by id, whoever owns it (the worker, which then runs the version an execution recorded). */
    async findById(id: string): Promise<ToolRecord | undefined> {
      const rows = await run<ToolRow[]>(`select ${COLUMNS} from tools.tools t where t.id = ? and t.deleted_at is null`, [id]);
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    async version(id: string, version: number): Promise<Record<string, unknown> | undefined> {
      const rows = await run<{ definition: Record<string, unknown> | string }[]>('select definition from tools.tool_versions where tool_id = ? and version = ?', [id, version]);
      return rows[0] ? json(rows[0].definition) : undefined;
    },

    async list(v: Visibility, filter: { scope: 'all' | 'mine' | 'public'; toolType?: string; limit: number; offset: number }): Promise<{ items: ToolRecord[]; total: number }> {
      const vis = visible(v);
      const where = ['t.deleted_at is null'];
      const params: unknown[] = [];
      if (filter.scope === 'mine') {
        where.push('t.owner_id = ?');
        params.push(v.userId);
      } else if (filter.scope === 'public') where.push('t.is_public');
      else {
        where.push(vis.sql);
        params.push(...vis.params);
      }
      if (filter.toolType) {
        where.push('t.tool_type = ?');
        params.push(filter.toolType);
      }
      const clause = where.join(' and ');
      const [count] = await run<{ n: string }[]>(`select count(*) as n from tools.tools t where ${clause}`, params);
      const rows = await run<ToolRow[]>(`select ${COLUMNS} from tools.tools t where ${clause} order by t.created_at desc, t.id limit ? offset ?`, [...params, filter.limit, filter.offset]);
      return { items: rows.map(toRecord), total: Number(count?.n ?? 0) };
    },

    async softDelete(id: string, now: Date): Promise<void> {
      await run('update tools.tools set deleted_at = ?, updated_at = ? where id = ? and deleted_at is null', [now, now, id]);
    },
  };
}

export type ToolQueries = ReturnType<typeof createQueries>;

export interface ToolRepository extends ToolQueries {
  /** Runs `work` in one transaction, with queries bound to it. */
  transaction<T>(work: (tx: ToolQueries) => Promise<T>): Promise<T>;
}

export function createToolRepository(em: EntityManager): ToolRepository {
  return { ...createQueries(em), transaction: (work) => em.transactional((tx) => work(createQueries(tx as EntityManager))) };
}
