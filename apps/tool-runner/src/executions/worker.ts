import { fromBinary } from '@bufbuild/protobuf';
import { ExecuteToolJobSchema, type ExecuteToolJob } from '@csda/proto/csda/jobs/v1/tool_jobs_pb.js';
import { PermanentMessageError, type AuditOutbox, type DurableConsumerSpec, type MessageHandler, type Subjects } from '@csda/service-kit';
import type { Logger } from 'pino';
import type { Executor } from '../executors/executor.types.ts';
import type { ToolRepository } from '../tools/tool.repository.ts';
import type { ToolDefinition, ToolType } from '../tools/tool.types.ts';
import type { ExecutionRepository } from './execution.repository.ts';
import type { FinishNotifier } from './execution.service.ts';
import type { ExecutionRecord, ExecutionResult } from './execution.types.ts';
import { redactResult } from './redact.ts';
import { SecretUnavailableError, type SecretGrants } from './secret-grants.ts';

/** The tool-runner's durable on JOBS_TOOLS (its name is fixed by the NATS permissions). */
export const TOOL_JOBS_DURABLE = 'tool-runner-tool-jobs';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Delivery is only the trigger: the claim decides who runs an execution, so
 * a redelivered job (crashed replica, slow ack) never runs it twice. A job is
 * tried a few times while the database is away, then dead-lettered; its
 * execution is then failed by the sweeper if it ever started, or stays queued
 * until cancelled.
 */
export function toolJobsSpec(subjects: Subjects, ackWaitMs = 60_000): DurableConsumerSpec {
  return {
    stream: subjects.stream('JOBS_TOOLS'),
    durable: TOOL_JOBS_DURABLE,
    filterSubject: subjects.subject('csda.jobs.tools.>'),
    maxDeliver: 5,
    ackWaitMs,
    backoffMs: [1_000, 5_000, 15_000, 30_000],
  };
}

/** The version an execution recorded, as stored in tools.tool_versions. */
export function definitionFromJson(d: Record<string, unknown>): ToolDefinition {
  return {
    name: String(d.name),
    description: String(d.description ?? ''),
    toolType: d.tool_type as ToolType,
    config: (d.config as Record<string, unknown>) ?? {},
    inputSchema: (d.input_schema as Record<string, unknown>) ?? { type: 'object' },
    timeoutS: Number(d.timeout_s),
    maxOutputBytes: Number(d.max_output_bytes),
    network: Boolean(d.network),
    secrets: ((d.secrets as { secret_id: string; as: string }[]) ?? []).map((s) => ({ secretId: s.secret_id, as: s.as })),
    isPublic: Boolean(d.is_public),
    sharedWithRoles: (d.shared_with_roles as string[]) ?? [],
  };
}

export interface WorkerDeps {
  readonly runnerId: string;
  readonly executions: () => ExecutionRepository;
  readonly tools: () => ToolRepository;
  readonly executors: Readonly<Record<ToolType, Executor>>;
  readonly grants: Pick<SecretGrants, 'reveal'>;
  readonly audit: Pick<AuditOutbox, 'record'>;
  readonly notifier: Pick<FinishNotifier, 'notify'>;
  readonly logger: Logger;
  readonly leaseMs: number;
  /** Queued executions older than this are failed QUEUE_EXPIRED (a lost or dead-lettered job). */
  readonly maxQueuedMs: number;
  /** How often this replica looks for cancellations of what it runs (default 500 ms). */
  readonly cancelPollMs?: number;
  /** How often any replica fails executions whose lease expired (default leaseMs / 2). */
  readonly sweepMs?: number;
}

function decode(data: Uint8Array): ExecuteToolJob {
  let job: ExecuteToolJob;
  try {
    job = fromBinary(ExecuteToolJobSchema, data);
  } catch (err) {
    throw new PermanentMessageError('undecodable ExecuteToolJob', { cause: err });
  }
  if (!UUID.test(job.executionId)) throw new PermanentMessageError('ExecuteToolJob without a valid execution id');
  return job;
}

/**
 * Runs executions: the JOBS_TOOLS handler (claim → reveal grants → executor
 * → redact → store), lease renewal and cancel watch for what this replica
 * holds, and the sweeper for what dead replicas held.
 */
export function createWorker(deps: WorkerDeps) {
  const running = new Map<string, AbortController>();
  const { logger } = deps;
  const auditFinished = (e: ExecutionRecord) =>
    deps.audit
      .record({
        action: 'tool_execution_finished',
        actor: 'service:tool-runner',
        actorName: 'tool-runner',
        outcome: e.status === 'completed' ? 'success' : 'failure',
        resourceType: 'execution',
        resourceId: e.id,
        details: { tool_id: e.toolId, tool_version: String(e.toolVersion), status: e.status, error_code: e.error?.code ?? '', duration_ms: String(e.durationMs ?? 0), owner_id: e.ownerId },
      })
      .catch((err: unknown) => logger.warn({ err, execution_id: e.id }, 'execution audit record not written'));

  async function runClaimed(execution: ExecutionRecord, controller: AbortController): Promise<ExecutionResult & { secretValues?: string[] }> {
    const tools = deps.tools();
    const [tool, stored] = await Promise.all([tools.findById(execution.toolId), tools.version(execution.toolId, execution.toolVersion)]);
    if (!tool || !stored) return { status: 'failed', output: null, stderr: '', error: { code: 'TOOL_GONE', message: 'the tool was deleted before this execution started' }, truncated: false, exitCode: null, warnings: [] };
    const definition = definitionFromJson(stored);
    let revealed;
    try {
      revealed = await deps.grants.reveal({ id: tool.ownerId, name: tool.ownerName, roles: tool.ownerRoles }, definition.secrets, { toolId: tool.id, executionId: execution.id });
    } catch (err) {
      if (err instanceof SecretUnavailableError) return { status: 'failed', output: null, stderr: '', error: { code: 'SECRET_UNAVAILABLE', message: err.message }, truncated: false, exitCode: null, warnings: [] };
      throw err;
    }
    const input = (execution.input && typeof execution.input === 'object' ? execution.input : {}) as Record<string, unknown>;
    const result = await deps.executors[definition.toolType]({ executionId: execution.id, toolId: tool.id, tool: definition, input, secrets: revealed.secrets, signal: controller.signal });
    return { ...result, secretValues: revealed.values };
  }

  const handler: MessageHandler = async (msg, log) => {
    const job = decode(msg.data);
    const execution = await deps.executions().claim(job.executionId.toLowerCase(), deps.runnerId, deps.leaseMs);
    if (!execution) {
      log.debug({ execution_id: job.executionId }, 'execution already claimed, finished or cancelled: job dropped');
      return;
    }
    const controller = new AbortController();
    running.set(execution.id, controller);
    const heartbeat = setInterval(() => msg.working(), 20_000);
    void deps.audit
      .record({
        action: 'tool_execution_started',
        actor: 'service:tool-runner',
        actorName: 'tool-runner',
        resourceType: 'execution',
        resourceId: execution.id,
        details: { tool_id: execution.toolId, tool_version: String(execution.toolVersion), runner_id: deps.runnerId, owner_id: execution.ownerId },
      })
      .catch((err: unknown) => logger.warn({ err, execution_id: execution.id }, 'execution audit record not written'));
    let result: ExecutionResult;
    let secretValues: string[] = [];
    try {
      const r = await runClaimed(execution, controller);
      secretValues = r.secretValues ?? [];
      result = r;
    } catch (err) {
      logger.error({ err, execution_id: execution.id }, 'execution failed inside the tool-runner');
      result = { status: 'failed', output: null, stderr: '', error: { code: 'INTERNAL_ERROR', message: 'the tool-runner failed while running this execution' }, truncated: false, exitCode: null, warnings: [] };
    } finally {
      clearInterval(heartbeat);
      running.delete(execution.id);
    }
    if (controller.signal.aborted && controller.signal.reason === 'shutdown' && result.status === 'cancelled') {
      result = { ...result, status: 'failed', error: { code: 'RUNNER_STOPPED', message: 'the tool-runner replica stopped while this execution ran' } };
    }
    const { secretValues: _drop, ...plain } = result as ExecutionResult & { secretValues?: string[] };
    const finished = await deps.executions().finish(execution.id, deps.runnerId, redactResult(plain, secretValues));
    secretValues.length = 0;
    if (finished) {
      deps.notifier.notify(finished.id);
      void auditFinished(finished);
      log.info({ execution_id: finished.id, tool_id: finished.toolId, status: finished.status, duration_ms: finished.durationMs }, 'execution finished');
    } else logger.warn({ execution_id: execution.id }, 'execution result dropped: the lease was lost before it finished');
  };

  const timers: NodeJS.Timeout[] = [];
  let busy = { renew: false, cancel: false, sweep: false };
  const guard = (key: keyof typeof busy, work: () => Promise<void>) => async () => {
    if (busy[key]) return;
    busy = { ...busy, [key]: true };
    try {
      await work();
    } catch (err) {
      logger.warn({ err, task: key }, 'tool-runner background task failed; retrying');
    } finally {
      busy = { ...busy, [key]: false };
    }
  };
  const abort = (ids: readonly string[]) => {
    for (const id of ids) running.get(id)?.abort('cancel');
  };

  return {
    handler,
    /** Starts lease renewal, the cancel watch and the sweeper. */
    start(): void {
      timers.push(setInterval(guard('renew', async () => abort(await deps.executions().renewLeases(deps.runnerId, [...running.keys()], deps.leaseMs))), Math.max(500, Math.floor(deps.leaseMs / 3))));
      timers.push(setInterval(guard('cancel', async () => abort(await deps.executions().cancelRequested(deps.runnerId, [...running.keys()]))), deps.cancelPollMs ?? 500));
      timers.push(
        setInterval(
          guard('sweep', async () => {
            const lost = [...(await deps.executions().sweepExpired()), ...(await deps.executions().expireQueued(deps.maxQueuedMs))];
            for (const e of lost) {
              logger.warn({ execution_id: e.id, runner_id: e.runnerId, code: e.error?.code }, e.error?.message ?? 'execution failed by the sweeper');
              deps.notifier.notify(e.id);
              void auditFinished(e);
            }
          }),
          deps.sweepMs ?? Math.max(1_000, Math.floor(deps.leaseMs / 2)),
        ),
      );
      for (const t of timers) t.unref();
    },
    /** Aborts what still runs (recorded RUNNER_STOPPED) and stops the timers; call after the consumer stopped pulling. */
    async stop(): Promise<void> {
      for (const c of running.values()) c.abort('shutdown');
      for (const t of timers) clearInterval(t);
    },
    running: () => running.size,
  };
}

export type Worker = ReturnType<typeof createWorker>;
