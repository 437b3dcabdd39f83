import type { EntityManager } from '@mikro-orm/postgresql';
import { CHAIN_GENESIS, chainHash, type StoredChainRow } from './audit-chain.ts';
import { AuditLogSchema, type AuditLog } from './audit-log.entity.ts';

/** Advisory lock serialising appends, so ids follow chain order. */
const CHAIN_LOCK = 'csda.identity.audit_log.chain';

interface ChainRow {
  id: string;
  event_id: string;
  subject: string;
  service: string;
  action: string;
  actor: string;
  resource_type: string | null;
  resource_id: string | null;
  event_type: string;
  payload: unknown;
  occurred_at: Date | string;
  prev_hash: string;
  hash: string;
}

export interface AuditRecord {
  readonly eventId: string;
  readonly subject: string;
  readonly service: string;
  readonly action: string;
  readonly actor: string;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly eventType: string;
  readonly payload: Record<string, unknown>;
  readonly occurredAt: Date;
}

/** Filters of the audit query; every one optional, all combined with AND. */
export interface AuditFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  /** occurred_at ≥ since */
  readonly since?: Date;
  /** occurred_at < until */
  readonly until?: Date;
}

/** The only place that touches `identity.audit_log`. */
export function createAuditLogRepository(em: EntityManager) {
  return {
    /**
     * Appends the entries not recorded yet (by event id), continuing the hash
     * chain: one transaction holding the chain lock, so rows get ids in chain
     * order. Replayed events change nothing. Returns rows added.
     */
    async record(entries: readonly AuditRecord[]): Promise<number> {
      if (entries.length === 0) return 0;
      return em.transactional(async (tx) => {
        // Hand-written on purpose: this runs for every audited action; the query builder's metadata work cost more than the insert.
        const run = <T>(sql: string, params: unknown[] = []) => tx.getConnection().execute(sql, params, 'all', tx.getTransactionContext()) as Promise<T>;
        await run('select pg_advisory_xact_lock(hashtext(?))', [CHAIN_LOCK]);
        const ids = [...new Set(entries.map((e) => e.eventId))];
        // One round trip: the ids already recorded, and the hash at the head of the chain.
        const rows = await run<{ event_id: string | null; hash: string | null }[]>(
          `select event_id, null as hash from identity.audit_log where event_id in (${ids.map(() => '?').join(', ')})
           union all (select null, hash from identity.audit_log order by id desc limit 1)`,
          ids,
        );
        const seen = new Set(rows.flatMap((r) => (r.event_id ? [r.event_id] : [])));
        const fresh = entries.filter((e) => !seen.has(e.eventId) && (seen.add(e.eventId), true));
        if (fresh.length === 0) return 0;
        let prev = rows.find((r) => r.hash)?.hash ?? CHAIN_GENESIS;
        const params: unknown[] = [];
        for (const e of fresh) {
          const hash = chainHash(prev, e);
          params.push(e.eventId, e.subject, e.service, e.action, e.actor, e.resourceType, e.resourceId, e.eventType, JSON.stringify(e.payload), e.occurredAt, prev, hash);
          prev = hash;
        }
        const values = fresh.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?)').join(', ');
        const inserted = await run<{ id: string }[]>(
          `insert into identity.audit_log (event_id, subject, service, action, actor, resource_type, resource_id, event_type, payload, occurred_at, prev_hash, hash)
           values ${values} returning id`,
          params,
        );
        return inserted.length;
      });
    },
    /** Rows of the chain in id order after `afterId`, one page, for `audit verify`. */
    async chainPage(afterId: string, limit: number): Promise<StoredChainRow[]> {
      const rows = await em.getConnection().execute<ChainRow[]>(
        `select id::text as id, event_id, subject, service, action, actor, resource_type, resource_id, event_type, payload, occurred_at, prev_hash, hash
         from identity.audit_log where audit_log.id > ? order by audit_log.id limit ?`,
        [afterId, limit],
      );
      return rows.map((r) => ({
        id: r.id, eventId: r.event_id, subject: r.subject, service: r.service, action: r.action, actor: r.actor,
        resourceType: r.resource_type, resourceId: r.resource_id, eventType: r.event_type, payload: r.payload,
        occurredAt: new Date(r.occurred_at), prevHash: r.prev_hash, hash: r.hash,
      }));
    },
    /** Newest first (by occurrence, then arrival), one page, with the total matching. */
    async search(filter: AuditFilter, page: { limit: number; offset: number }): Promise<{ items: AuditLog[]; total: number }> {
      const occurredAt = { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lt: filter.until } : {}) };
      const where = {
        ...(filter.actor !== undefined ? { actor: filter.actor } : {}),
        ...(filter.action !== undefined ? { action: filter.action } : {}),
        ...(filter.resourceType !== undefined ? { resourceType: filter.resourceType } : {}),
        ...(filter.resourceId !== undefined ? { resourceId: filter.resourceId } : {}),
        ...(filter.since || filter.until ? { occurredAt } : {}),
      };
      const [items, total] = await em.findAndCount(AuditLogSchema, where, {
        orderBy: { occurredAt: 'desc', id: 'desc' },
        limit: page.limit,
        offset: page.offset,
        disableIdentityMap: true,
      });
      return { items, total };
    },
  };
}

export type AuditLogRepository = ReturnType<typeof createAuditLogRepository>;
