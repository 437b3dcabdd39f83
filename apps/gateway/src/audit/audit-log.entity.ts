import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** One security-relevant action, persisted from the AUDIT stream. */
export const AuditLogSchema = defineEntity({
  name: 'AuditLog',
  tableName: 'audit_log',
  schema: 'identity',
  properties: {
    id: p.bigint().primary().autoincrement(),
    eventId: p.string().unique(),
    subject: p.string(),
    service: p.string(),
    action: p.string(),
    actor: p.string(),
    resourceType: p.string().nullable(),
    resourceId: p.string().nullable(),
    eventType: p.string(),
    payload: p.json<Record<string, unknown>>(),
    occurredAt: p.datetime().columnType('timestamptz'),
    recordedAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    /** Hash of the previous row (the genesis value for the first). */
    prevHash: p.string().columnType('char(64)'),
    /** SHA-256 over prevHash and this row's content (audit-chain.ts). */
    hash: p.string().columnType('char(64)'),
  },
});

export type AuditLog = InferEntity<typeof AuditLogSchema>;
