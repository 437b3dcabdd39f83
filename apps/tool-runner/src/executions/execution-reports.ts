import { auditOutboxMessage, enqueueOutbox, type Subjects } from '@csda/service-kit';
import { toolChangedMessage } from '../tools/tool-events.ts';
import type { ExecutionQueries } from './execution.repository.ts';
import { FINISHED, type ExecutionRecord } from './execution.types.ts';
import { executionJobResult } from './job-results.ts';

/**
 * What changed executions report, written on `tx` inside the transaction
 * that changed them (one outbox insert): the JobResult of each one a schedule
 * started (claimed or finished), and for each tool with an execution that
 * finished (completed, failed, timed out, cancelled) one `executed`
 * ResourceChanged, its stats having changed, and the `tool_execution_finished`
 * audit of each finished one. A claim reports neither. True when anything was
 * added: kick the relay after the commit.
 */
export async function enqueueExecutionReports(tx: ExecutionQueries, subjects: Subjects, executions: readonly (ExecutionRecord | undefined)[]): Promise<boolean> {
  const changed = executions.filter((e): e is ExecutionRecord => e !== undefined);
  const jobResults = changed.flatMap((e) => {
    const m = executionJobResult(subjects, e);
    return m ? [m] : [];
  });
  const finishedTools = [...new Set(changed.filter((e) => FINISHED.includes(e.status)).map((e) => e.toolId))];
  const owners = await tx.toolOwners(finishedTools);
  const executed = finishedTools.map((id) => toolChangedMessage(subjects, { id, ownerId: owners.get(id) ?? '' }, 'executed'));
  const audits = changed.filter((e) => FINISHED.includes(e.status)).map((e) => auditOutboxMessage(subjects, 'tool-runner', finishedAudit(e)));
  const messages = [...jobResults, ...executed, ...audits];
  await enqueueOutbox(tx.em, 'tools', messages);
  return messages.length > 0;
}

function finishedAudit(e: ExecutionRecord) {
  return {
    action: 'tool_execution_finished',
    actor: 'service:tool-runner',
    actorName: 'tool-runner',
    outcome: e.status === 'completed' ? ('success' as const) : ('failure' as const),
    resourceType: 'execution',
    resourceId: e.id,
    details: { tool_id: e.toolId, tool_version: String(e.toolVersion), status: e.status, error_code: e.error?.code ?? '', duration_ms: String(e.durationMs ?? 0), owner_id: e.ownerId },
  };
}
