import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { publishProto, type Nats } from './events.ts';

export interface AuditFact {
  /** snake_case verb phrase, e.g. `secret_revealed`, `login_failed`. */
  readonly action: string;
  /** User id, `anonymous`, or `service:<name>`. */
  readonly actor: string;
  readonly actorName?: string;
  readonly outcome?: 'success' | 'failure';
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly ip?: string;
  readonly requestId?: string;
  /** Safe facts only: never a value, password or token. */
  readonly details?: Readonly<Record<string, string>>;
}

/**
 * Publishes one AuditEvent to `csda.audit.<service>.<action>` and waits for
 * JetStream's ack, so an audited action is never reported done before its
 * audit record is durable. Returns the event id.
 */
export async function publishAudit(nats: Nats, service: string, fact: AuditFact): Promise<string> {
  const eventId = randomUUID();
  const event = create(AuditEventSchema, {
    eventId,
    actor: fact.actor,
    actorName: fact.actorName ?? '',
    action: fact.action,
    outcome: fact.outcome ?? 'success',
    resourceType: fact.resourceType ?? '',
    resourceId: fact.resourceId ?? '',
    ip: fact.ip ?? '',
    requestId: fact.requestId ?? '',
    details: { ...fact.details },
    occurredAtMs: BigInt(Date.now()),
  });
  await publishProto(nats, nats.subjects.audit(service, fact.action), AuditEventSchema, event, { eventId });
  return eventId;
}
