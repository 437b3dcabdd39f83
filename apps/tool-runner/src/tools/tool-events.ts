import { enqueueOutbox, resourceChangedMessage, type OutboxMessage, type Subjects } from '@csda/service-kit';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * What a `tool` ResourceChanged says happened (proto/csda/events/v1/resource_changed.proto):
 * `executed` when an execution of it finished (its stats changed).
 */
export type ToolChange = 'created' | 'updated' | 'deleted' | 'executed';

/** `csda.events.tool-runner.tool.changed`: the gateway's cache stops reading what it kept about the tool. Ids only. */
export const toolChangedMessage = (subjects: Subjects, tool: { id: string; ownerId: string }, change: ToolChange): OutboxMessage =>
  resourceChangedMessage(subjects, 'tool-runner', { resourceType: 'tool', resourceId: tool.id, change, ownerId: tool.ownerId });

/** Adds the tool's ResourceChanged to the outbox on `em`, inside its transaction (published if and only if the change commits). */
export function enqueueToolChanged(em: EntityManager, subjects: Subjects, tool: { id: string; ownerId: string }, change: ToolChange): Promise<void> {
  return enqueueOutbox(em, 'tools', [toolChangedMessage(subjects, tool, change)]);
}
