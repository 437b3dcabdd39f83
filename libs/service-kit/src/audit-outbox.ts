import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuditFact } from './audit.ts';
import type { Subjects } from './events.ts';
import { enqueueOutbox, outboxMessage, type OutboxMessage, type OutboxRelay } from './outbox.ts';

/** The AuditEvent for `fact`, addressed to `csda.audit.<service>.<action>`. */
export function auditOutboxMessage(subjects: Subjects, service: string, fact: AuditFact): OutboxMessage {
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
  const aggregate = fact.resourceType && fact.resourceId ? `${fact.resourceType}:${fact.resourceId}` : undefined;
  return outboxMessage(subjects.audit(service, fact.action), AuditEventSchema, event, { eventId, aggregate });
}

/** A service's audit trail through its outbox: written with the change, relayed after the commit. */
export interface AuditOutbox {
  /** Adds audit records on `em`, inside its transaction (commit with the change, then `kick`). */
  write(em: EntityManager, facts: readonly AuditFact[]): Promise<void>;
  /**
   * Records a fact on its own (a reveal, a refusal): resolves once it is
   * committed. Concurrent calls share one insert and one commit (group
   * commit), so a busy service pays one WAL flush per batch, not per fact.
   */
  record(fact: AuditFact): Promise<void>;
  /** Asks the relay to publish now; call after the transaction that wrote commits. */
  kick(): void;
}

export interface AuditOutboxOptions {
  readonly schema: string;
  readonly service: string;
  readonly subjects: Subjects;
  readonly relay: Pick<OutboxRelay, 'kick'>;
  /** A fresh EntityManager for `record`'s own inserts. */
  readonly em: () => EntityManager;
  /** Most facts per group insert; default 256. */
  readonly maxBatch?: number;
}

/** The audit outbox of `service`, whose outbox table lives in `schema`. */
export function createAuditOutbox(options: AuditOutboxOptions): AuditOutbox {
  const toMessages = (facts: readonly AuditFact[]) => facts.map((fact) => auditOutboxMessage(options.subjects, options.service, fact));
  const group = createGroupCommit<AuditFact>(async (facts) => {
    await enqueueOutbox(options.em(), options.schema, toMessages(facts));
    options.relay.kick();
  }, options.maxBatch ?? 256);
  return {
    write: (em, facts) => enqueueOutbox(em, options.schema, toMessages(facts)),
    record: (fact) => group(fact),
    kick: () => options.relay.kick(),
  };
}

/**
 * Group commit: an item is flushed at once when no flush is running;
 * items arriving meanwhile wait and go together in the next flush. No timer,
 * so no added latency when idle; under load, one flush per round trip.
 */
function createGroupCommit<T>(flush: (items: T[]) => Promise<void>, maxBatch: number): (item: T) => Promise<void> {
  let queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let running = false;
  const drain = async () => {
    running = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        await flush(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    running = false;
  };
  return (item) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running) void drain();
    });
}
