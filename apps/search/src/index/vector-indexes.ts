import type { CheckResult, MikroORM } from '@csda/service-kit';
import type { Logger } from 'pino';
import { createIndexSql, VECTOR_INDEXES, type VectorIndexSpec } from './vector-sql.ts';

/** HNSW build parameters (SEARCH_HNSW_M, SEARCH_HNSW_EF_CONSTRUCTION) and the memory a build may use. */
export interface HnswSettings {
  readonly m: number;
  readonly efConstruction: number;
  /** maintenance_work_mem of the session that builds (MB): a graph that fits builds much faster. */
  readonly buildMemoryMb: number;
}

interface IndexState {
  readonly valid: boolean;
  readonly m: number | undefined;
  readonly efConstruction: number | undefined;
}

async function indexState(orm: MikroORM, name: string): Promise<IndexState | undefined> {
  const rows = await orm.em.getConnection().execute<{ valid: boolean; options: string[] | null }[]>(
    `select i.indisvalid as valid, c.reloptions as options from pg_class c join pg_index i on i.indexrelid = c.oid
     where c.relname = ? and c.relnamespace = 'search'::regnamespace`,
    [name],
  );
  const row = rows[0];
  if (!row) return undefined;
  const option = (key: string) => {
    const found = (row.options ?? []).find((o) => o.startsWith(`${key}=`));
    return found ? Number(found.slice(key.length + 1)) : undefined;
  };
  return { valid: row.valid, m: option('m'), efConstruction: option('ef_construction') };
}

/** Runs statements on one connection of the pool, outside any transaction (CREATE INDEX CONCURRENTLY needs that). */
async function onOneConnection(orm: MikroORM, statements: readonly string[]): Promise<void> {
  const connection = orm.em.getConnection();
  await connection
    .getClient()
    .connection()
    .execute(async (db) => {
      // The connection goes back to the pool afterwards: reset what was set on it.
      try {
        for (const sql of statements) await connection.execute(sql, [], 'run', db as never);
      } finally {
        await connection.execute('reset maintenance_work_mem', [], 'run', db as never).catch(() => undefined);
      }
    });
}

/**
 * Creates the HNSW index of every indexed dimension, or rebuilds one whose
 * m / ef_construction differ from `settings` (or whose earlier build failed):
 * the new index is built CONCURRENTLY next to the old one, which keeps
 * serving queries until it is swapped in. Run by `migrate`, after the
 * migrations; a rebuild of a large index takes as long as a build.
 */
export async function ensureVectorIndexes(orm: MikroORM, settings: HnswSettings, logger: Logger): Promise<{ created: string[]; rebuilt: string[] }> {
  const created: string[] = [];
  const rebuilt: string[] = [];
  const memory = `set maintenance_work_mem = '${Math.trunc(settings.buildMemoryMb)}MB'`;
  for (const spec of VECTOR_INDEXES) {
    const state = await indexState(orm, spec.name);
    if (state?.valid && state.m === settings.m && state.efConstruction === settings.efConstruction) continue;
    const started = Date.now();
    if (!state) {
      await onOneConnection(orm, [memory, createIndexSql(spec, settings, { concurrently: true })]);
      created.push(spec.name);
    } else {
      const next = `${spec.name}_next`;
      await onOneConnection(orm, [
        memory,
        `drop index concurrently if exists "search"."${next}"`,
        createIndexSql(spec, settings, { name: next, concurrently: true }),
        `drop index concurrently "search"."${spec.name}"`,
        `alter index "search"."${next}" rename to "${spec.name}"`,
      ]);
      rebuilt.push(spec.name);
    }
    logger.info({ index: spec.name, m: settings.m, ef_construction: settings.efConstruction, ms: Date.now() - started }, state ? 'HNSW index rebuilt' : 'HNSW index created');
  }
  return { created, rebuilt };
}

/**
 * Readiness: every HNSW index exists and is valid (else `run migrate`); one
 * built with other parameters than configured is reported, not failed.
 */
export function vectorIndexCheck(orm: MikroORM, settings: Pick<HnswSettings, 'm' | 'efConstruction'>): () => Promise<CheckResult> {
  return async () => {
    const problems: string[] = [];
    const drift: string[] = [];
    await Promise.all(
      VECTOR_INDEXES.map(async (spec: VectorIndexSpec) => {
        const state = await indexState(orm, spec.name);
        if (!state?.valid) problems.push(`${spec.name} ${state ? 'invalid' : 'missing'}`);
        else if (state.m !== settings.m || state.efConstruction !== settings.efConstruction) drift.push(`${spec.name} built with m=${state.m}, ef_construction=${state.efConstruction}`);
      }),
    );
    if (problems.length > 0) return { ok: false, detail: `${problems.join(', ')}: run migrate` };
    return { ok: true, detail: drift.length > 0 ? `${drift.join('; ')} (configured m=${settings.m}, ef_construction=${settings.efConstruction}: run migrate to rebuild)` : undefined };
  };
}
