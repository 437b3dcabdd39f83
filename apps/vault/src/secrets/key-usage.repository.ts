import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * The distinct key_id values of vault.secret_versions by a loose index scan
 * over secret_versions_key_id_idx: one index probe per distinct key id, not
 * a scan of every version, so the readiness check can afford it.
 */
const DISTINCT_KEY_IDS = `
  with recursive k(key_id) as (
    (select key_id from vault.secret_versions order by key_id limit 1)
    union all
    select (select v.key_id from vault.secret_versions v where v.key_id > k.key_id order by v.key_id limit 1)
    from k where k.key_id is not null
  )
  select key_id from k where key_id is not null`;

/** Which key-encryption keys the stored versions need. */
export function createKeyUsageRepository(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all') as Promise<T>;
  return {
    async keyIdsInUse(): Promise<string[]> {
      return (await run<{ key_id: string }[]>(DISTINCT_KEY_IDS)).map((r) => r.key_id);
    },
    /** Versions wrapped under any of `keyIds` (an index range per id). */
    async versionsUnder(keyIds: readonly string[]): Promise<number> {
      const rows = await run<{ n: string }[]>('select count(*) as n from vault.secret_versions where key_id in (select jsonb_array_elements_text(?::jsonb))', [JSON.stringify(keyIds)]);
      return Number(rows[0]?.n ?? 0);
    },
  };
}

export type KeyUsageRepository = ReturnType<typeof createKeyUsageRepository>;
