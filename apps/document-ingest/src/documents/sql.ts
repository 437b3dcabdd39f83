import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutboxMessage } from '@csda/service-kit';

/** A PostgreSQL text[] literal (the driver would expand a JS array into a list of parameters). */
export const textArray = (values: readonly string[]) => `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;

export const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));

/** Runs `sql` on `em`, inside its transaction when it has one. */
export function runner(em: EntityManager) {
  return <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;
}

/**
 * Writes messages into `ingest.outbox` on `em` (inside its transaction). A
 * message whose event id is already there is skipped: re-running a stage that
 * had enqueued its work (a sweep, a redelivery) enqueues nothing twice.
 */
export async function enqueue(em: EntityManager, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const rows = messages.map(() => '(?, ?, ?, ?, ?, ?::jsonb)').join(', ');
  const params = messages.flatMap((m) => [m.eventId, m.subject, m.eventType, Buffer.from(m.payload), m.aggregate, JSON.stringify(m.traceHeaders)]);
  await runner(em)(`insert into ingest.outbox (event_id, subject, event_type, payload, aggregate, trace_headers) values ${rows} on conflict (event_id) do nothing`, params);
}
