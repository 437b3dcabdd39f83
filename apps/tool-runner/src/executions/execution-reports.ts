import { enqueueOutbox, type Subjects } from '@csda/service-kit';
import { toolChangedMessage } from '../tools/tool-events.ts';
import type { ExecutionQueries } from './execution.repository.ts';
import { FINISHED, type ExecutionRecord } from './execution.types.ts';
import { executionJobResult } from './job-results.ts';

/**
 * What changed executions report, written on `tx` inside the transaction
 * that changed them (one outbox insert): the JobResult of each one a schedule
 * started (claimed or finished), and for each tool with an execution that
 * finished (completed, failed, timed out, cancelled) one `executed`
 * ResourceChanged, its stats having changed. A claim reports no
 * ResourceChanged. True when anything was added: kick the relay after the commit.
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
  const messages = [...jobResults, ...executed];
  await enqueueOutbox(tx.em, 'tools', messages);
  return messages.length > 0;
}
