import type { MikroORM } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs `work` only if no other process holds the transaction-scoped advisory
 * lock `key` (PostgreSQL releases it when the holder commits or dies), else
 * returns `{ ran: false }` at once. The lock saves duplicate work between
 * replicas; correctness never depends on it. `work` writes through its own
 * forks: the lock's transaction holds nothing else.
 */
export async function withAdvisoryLock<T>(orm: Pick<MikroORM, 'em'>, key: string, work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  const em = orm.em.fork() as EntityManager;
  return em.transactional(async (tx) => {
    const [row] = await tx.getConnection().execute<{ ok: boolean }[]>('select pg_try_advisory_xact_lock(hashtext(?)) as ok', [key], 'all', tx.getTransactionContext());
    if (!row?.ok) return { ran: false as const };
    return { ran: true as const, value: await work() };
  });
}
