import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from 'pino';
import type { CheckResult } from './health.ts';

export { MikroORM };
export type { MigrationObject };

/** Every schema the platform's services own; each service ignores the others. */
export const SERVICE_SCHEMAS = ['identity', 'vault', 'tools', 'ingest', 'search', 'scheduler'] as const;
export type ServiceSchema = (typeof SERVICE_SCHEMAS)[number];

export interface DatabaseOptions {
  readonly url: string;
  readonly schema: ServiceSchema;
  // EntitySchema's generics vary per entity; the ORM only needs the runtime metadata.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly entities: EntitySchema<any, any>[];
  readonly migrations: MigrationObject[];
  readonly logger: Logger;
  readonly poolMax?: number;
}

/**
 * A MikroORM instance bound to one service's schema. Connects lazily: call
 * `checkConnection()` (the start-up retry does) before use. Migrations come
 * from an explicit list and are tracked in `<schema>.mikro_orm_migrations`.
 */
export async function openDatabase(options: DatabaseOptions): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: options.url,
    schema: options.schema,
    entities: options.entities,
    extensions: [Migrator],
    ensureDatabase: false,
    debug: false,
    logger: (message) => options.logger.debug({ component: 'orm' }, message),
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: options.poolMax ?? 20 },
    migrations: {
      migrationsList: options.migrations,
      tableName: `${options.schema}.mikro_orm_migrations`,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    schemaGenerator: { ignoreSchema: ['public', ...SERVICE_SCHEMAS.filter((s) => s !== options.schema)] },
  });
}

/** Throws with the driver's reason when the database can't be reached. */
export async function assertConnected(orm: MikroORM): Promise<void> {
  if (!(await orm.isConnected())) await orm.connect();
  const result = await orm.checkConnection();
  if (!result.ok) throw result.error ?? new Error(result.reason);
}

export interface SchemaStatus {
  /** Name of the last applied migration, '' when none. */
  readonly version: string;
  readonly pending: readonly string[];
  readonly current: boolean;
}

/**
 * Applied vs known migrations, read without side effects (the migrator's own
 * storage would create the schema and its table on first read).
 */
export async function schemaStatus(orm: MikroORM): Promise<SchemaStatus> {
  const schema = orm.config.get('schema') ?? 'public';
  const known = (orm.config.get('migrations').migrationsList ?? []).map((m) => ('name' in m && typeof m.name === 'string' ? m.name : ''));
  const connection = orm.em.getConnection();
  const [table] = await connection.execute<{ t: string | null }[]>('select to_regclass(?) as t', [`"${schema}"."mikro_orm_migrations"`]);
  const executed = table?.t
    ? (await connection.execute<{ name: string }[]>(`select name from "${schema}"."mikro_orm_migrations" order by id`)).map((r) => r.name)
    : [];
  const applied = new Set(executed);
  const pending = known.filter((name) => !applied.has(name));
  return { version: executed.at(-1) ?? '', pending, current: pending.length === 0 };
}

/** Readiness: the database answers and every migration has been applied. */
export function databaseCheck(orm: MikroORM): () => Promise<CheckResult> {
  return async () => {
    const status = await schemaStatus(orm);
    return status.current
      ? { ok: true, detail: status.version }
      : { ok: false, detail: `schema behind: ${status.pending.length} pending migration(s), run migrate` };
  };
}

/**
 * Applies pending migrations. A session-level advisory lock makes concurrent
 * runs (two Jobs, two developers) wait for each other instead of racing.
 */
export async function migrate(orm: MikroORM, url: string, schema: ServiceSchema): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: url });
  await lockClient.connect();
  try {
    await lockClient.query('SELECT pg_advisory_lock(hashtext($1))', [`csda.migrate.${schema}`]);
    // Provisioned databases have the schema, owned by the service's role, which may not CREATE SCHEMA
    // (and IF NOT EXISTS checks that right before it looks): create it only when missing.
    const connection = orm.em.getConnection();
    const [found] = await connection.execute<{ ns: string | null }[]>('select to_regnamespace(?)::text as ns', [schema]);
    if (!found?.ns) await connection.execute(`CREATE SCHEMA "${schema}"`);
    const applied = await orm.migrator.up();
    return applied.map((m) => m.name);
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await lockClient.end();
  }
}
