import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditLogSchema, type AuditLog } from './audit-log.entity.ts';

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
    /** Inserts once per event id (one statement for the batch); replayed events change nothing. Returns rows added. */
    async record(entries: readonly AuditRecord[]): Promise<number> {
      if (entries.length === 0) return 0;
      // Hand-written on purpose: this runs for every audited action; the query builder's metadata work cost more than the insert.
      const rows = entries.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?)').join(', ');
      const params = entries.flatMap((e) => [e.eventId, e.subject, e.service, e.action, e.actor, e.resourceType, e.resourceId, e.eventType, JSON.stringify(e.payload), e.occurredAt]);
      const inserted = await em.getConnection().execute<{ id: string }[]>(
        `insert into identity.audit_log (event_id, subject, service, action, actor, resource_type, resource_id, event_type, payload, occurred_at)
         values ${rows} on conflict (event_id) do nothing returning id`,
        params,
      );
      return inserted.length;
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
