import { fromBinary, toJson, type JsonObject } from '@bufbuild/protobuf';
import {
  createBatcher,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  PermanentMessageError,
  type DurableConsumerSpec,
  type JsMsg,
  type Logger,
  type Subjects,
} from '@csda/service-kit';
import type { AuditLogRepository, AuditRecord } from './audit-log.repository.ts';
import { auditEventRegistry } from './event-types.ts';

export function auditConsumerSpec(subjects: Subjects, ackWaitMs: number): DurableConsumerSpec {
  return {
    stream: subjects.stream('AUDIT'),
    durable: 'gateway-audit-log',
    filterSubject: subjects.subject('csda.audit.>'),
    maxDeliver: 8,
    ackWaitMs,
    backoffMs: [1_000, 5_000, 15_000, 30_000, 60_000],
  };
}

/** Messages the audit consumer handles at once; their rows are written together. */
export const AUDIT_CONSUMER_CONCURRENCY = 64;

/**
 * Persists AUDIT messages. Concurrent messages are written with one
 * multi-row insert (a batch flushes at 64 rows or after 10 ms); each message
 * is acked only once its batch is committed.
 */
export function createAuditHandler(subjects: Subjects, repository: () => AuditLogRepository) {
  const prefix = subjects.subject('csda.audit.');
  const batcher = createBatcher<AuditRecord>(
    async (records) => {
      try {
        await repository().record(records);
        return undefined;
      } catch {
        // One bad row must not fail its neighbours: write them one by one, and report per row.
        return Promise.all(records.map((r) => repository().record([r]).then(() => undefined, (err: unknown) => err ?? new Error('insert failed'))));
      }
    },
    { maxSize: AUDIT_CONSUMER_CONCURRENCY, maxWaitMs: 10 },
  );
  return async (msg: JsMsg, logger: Logger): Promise<void> => {
    const record = toAuditRecord(msg, prefix);
    await batcher.add(record);
    logger.debug({ action: record.action }, 'audit entry recorded');
  };
}

function toAuditRecord(msg: JsMsg, prefix: string): AuditRecord {
  const eventId = withoutNul(msg.headers?.get(EVENT_ID_HEADER)) as string | undefined;
  const eventType = msg.headers?.get(EVENT_TYPE_HEADER);
  if (!eventId || !eventType) throw new PermanentMessageError(`missing ${EVENT_ID_HEADER} or ${EVENT_TYPE_HEADER} header`);
  const desc = auditEventRegistry.getMessage(eventType);
  if (!desc) throw new PermanentMessageError(`unknown audit event type ${eventType}`);
  if (!msg.subject.startsWith(prefix)) throw new PermanentMessageError(`unexpected subject ${msg.subject}`);
  const [service, ...rest] = msg.subject.slice(prefix.length).split('.');
  if (!service || rest.length === 0) throw new PermanentMessageError(`subject ${msg.subject} names no service and action`);
  let payload: JsonObject;
  try {
    payload = withoutNul(toJson(desc, fromBinary(desc, msg.data))) as JsonObject;
  } catch (err) {
    throw new PermanentMessageError(`payload is not a valid ${eventType}`, { cause: err });
  }
  // The server lets a service publish only under its own name; the payload must not claim another service either.
  const claimed = typeof payload.actor === 'string' && payload.actor.startsWith('service:') ? payload.actor.slice('service:'.length) : undefined;
  if (claimed !== undefined && claimed !== service) {
    throw new PermanentMessageError(`audit event on ${msg.subject} claims actor service:${claimed}; a service may only record its own actions`);
  }
  const occurredMs = Number(payload.occurredAtMs ?? 0);
  return {
    eventId,
    subject: msg.subject,
    service,
    action: rest.join('.'),
    actor: typeof payload.actor === 'string' && payload.actor ? payload.actor : `service:${service}`,
    resourceType: typeof payload.resourceType === 'string' && payload.resourceType ? payload.resourceType : null,
    resourceId: typeof payload.resourceId === 'string' && payload.resourceId ? payload.resourceId : null,
    eventType,
    payload,
    occurredAt: occurredMs > 0 ? new Date(occurredMs) : new Date(msg.info.timestampNanos / 1e6),
  };
}

/** PostgreSQL text and jsonb cannot hold U+0000; replace it (with U+FFFD) everywhere in a decoded payload. */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k) as string, withoutNul(v)]));
  return value;
}
