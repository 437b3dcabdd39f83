import { create } from '@bufbuild/protobuf';
import { ResourceChangedSchema } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import { randomUUID } from 'node:crypto';
import type { Subjects } from './events.ts';
import { outboxMessage, type OutboxMessage } from './outbox.ts';

/** What a ResourceChanged event says changed (proto/csda/events/v1/resource_changed.proto). */
export interface ResourceChange {
  /** `document`, `tool`, `secret`, `index`. */
  readonly resourceType: string;
  readonly resourceId: string;
  /** `created`, `updated`, `deleted`, … (the proto lists them per resource type). */
  readonly change: string;
  readonly ownerId?: string;
}

/** `csda.events.<service>.<resource_type>.changed` (un-namespaced). */
export const resourceChangedSubject = (service: string, resourceType: string) => `csda.events.${service}.${resourceType}.changed`;

/**
 * An outbox message telling the gateway's cache that `change` happened, to be
 * enqueued in the transaction that makes the change (so it is published if
 * and only if the change commits). Ids only: never a value, name or content.
 */
export function resourceChangedMessage(subjects: Subjects, service: string, change: ResourceChange): OutboxMessage {
  const eventId = `changed:${change.resourceType}:${change.resourceId}:${randomUUID()}`;
  const message = create(ResourceChangedSchema, {
    eventId,
    resourceType: change.resourceType,
    resourceId: change.resourceId,
    change: change.change,
    ownerId: change.ownerId ?? '',
    occurredAtMs: BigInt(Date.now()),
  });
  return outboxMessage(subjects.subject(resourceChangedSubject(service, change.resourceType)), ResourceChangedSchema, message, { eventId, aggregate: `${change.resourceType}:${change.resourceId}` });
}
