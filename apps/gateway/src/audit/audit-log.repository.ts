import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditLogSchema } from './audit-log.entity.ts';

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

/** The only place that touches `identity.audit_log`. */
export function createAuditLogRepository(em: EntityManager) {
  return {
    /** Inserts once per event id; a replayed event changes nothing. Returns whether a row was added. */
    async record(entry: AuditRecord): Promise<boolean> {
      const result = await em
        .createQueryBuilder(AuditLogSchema)
        .insert({ ...entry })
        .onConflict('eventId')
        .ignore()
        .execute('run');
      return (result.affectedRows ?? 0) > 0;
    },
    async countByEventId(eventId: string): Promise<number> {
      return em.count(AuditLogSchema, { eventId });
    },
  };
}

export type AuditLogRepository = ReturnType<typeof createAuditLogRepository>;
