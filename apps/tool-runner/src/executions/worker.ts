import type { AuditOutbox, MessageHandler, Subjects } from '@csda/service-kit';
import type { Logger } from 'pino';
import type { Executor } from '../executors/executor.types.ts';
import type { ToolRepository } from '../tools/tool.repository.ts';
import type { ToolDefinition, ToolRecord, ToolType } from '../tools/tool.types.ts';
import type { ExecutionQueries, ExecutionRepository } from './execution.repository.ts';
import type { FinishNotifier } from './execution-waiter.ts';
import type { ExecutionRecord, ExecutionResult } from './execution.types.ts';
import { enqueueExecutionReports } from './execution-reports.ts';
import { redactResult } from './redact.ts';
import { SecretUnavailableError, type SecretGrants } from './secret-grants.ts';
import { createSlots } from './slots.ts';
import { decodeToolJob } from './tool-jobs.ts';

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
  /** Audit records; `kick` sends what a transaction put in the outbox (JobResults of scheduled executions). */
  readonly audit: Pick<AuditOutbox, 'record' | 'kick'>;
  readonly subjects: Subjects;
  readonly notifier: Pick<FinishNotifier, 'notify'>;
  readonly logger: Logger;
  /** TOOLS_MAX_CONCURRENCY: executions this replica runs at once, from jobs and in place together. */
  readonly maxConcurrency: number;
  readonly leaseMs: number;
  /** Queued executions older than this are failed QUEUE_EXPIRED (a lost or dead-lettered job). */
  readonly maxQueuedMs: number;
  /** True while cancel signals arrive from PostgreSQL: the cancel watch then re-reads only every `notifiedPollMs`. */
  readonly listening?: () => boolean;
  readonly notifiedPollMs?: number;
  /** How often this replica looks for cancellations of what it runs when no signals arrive (default 500 ms). */
  readonly cancelPollMs?: number;
  /** How often any replica fails executions whose lease expired (default leaseMs / 2). */
  readonly sweepMs?: number;
}

/** The outcome of a run the replica's shutdown cut off before it began (stored as RUNNER_STOPPED). */
const NOT_RUN: ExecutionResult & { secretValues?: string[] } = { status: 'cancelled', output: null, stderr: '', error: null, truncated: false, exitCode: null, warnings: [] };

/** Where a run came from: a JOBS_TOOLS delivery, or the ExecuteTool call that waits for it. */
type Via = 'queue' | 'request';

/**
 * Runs executions: the JOBS_TOOLS handler and `reserveHere` for a waiting
 * ExecuteTool (slot → claim → reveal grants → executor → redact → store),
 * lease renewal and cancel watch for what this replica holds, and the
 * sweeper for what dead replicas held.
 */
/** See Worker.reserveHere. */
export interface InPlaceReservation {
  readonly claim: { readonly runnerId: string; readonly leaseMs: number };
  run(execution: ExecutionRecord, tool: ToolRecord): Promise<ExecutionRecord | undefined>;
  release(): void;
}

export function createWorker(deps: WorkerDeps) {
  const running = new Map<string, AbortController>();
  const inPlace = new Set<Promise<unknown>>();
  const slots = createSlots(deps.maxConcurrency);
  const { logger } = deps;
  let state: 'new' | 'started' | 'stopping' = 'new';

  /** The live tool and the definition of the version the execution recorded; undefined when the tool is gone. */
  async function lookUp(execution: ExecutionRecord): Promise<{ tool: ToolRecord; definition: ToolDefinition } | undefined> {
    const tools = deps.tools();
    const [tool, stored] = await Promise.all([tools.findById(execution.toolId), tools.version(execution.toolId, execution.toolVersion)]);
    return tool && stored ? { tool, definition: definitionFromJson(stored) } : undefined;
  }

  /** `known`: the tool as ExecuteTool read it for this execution (the version it recorded), sparing the look-up. */
  async function runClaimed(execution: ExecutionRecord, controller: AbortController, known?: ToolRecord): Promise<ExecutionResult & { secretValues?: string[] }> {
    const found = known && known.id === execution.toolId && known.version === execution.toolVersion ? { tool: known, definition: known } : await lookUp(execution);
    if (!found) return { status: 'failed', output: null, stderr: '', error: { code: 'TOOL_GONE', message: 'the tool was deleted before this execution started' }, truncated: false, exitCode: null, warnings: [] };
    const { tool, definition } = found;
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

  /** Runs a claimed execution and stores its outcome; the caller holds a slot, released here. */
  async function run(execution: ExecutionRecord, via: Via, known?: ToolRecord): Promise<ExecutionRecord | undefined> {
    const controller = new AbortController();
    running.set(execution.id, controller);
    void deps.audit
      .record({
        action: 'tool_execution_started',
        actor: 'service:tool-runner',
        actorName: 'tool-runner',
        resourceType: 'execution',
        resourceId: execution.id,
        details: { tool_id: execution.toolId, tool_version: String(execution.toolVersion), runner_id: deps.runnerId, owner_id: execution.ownerId, via },
      })
      .catch((err: unknown) => logger.warn({ err, execution_id: execution.id }, 'execution audit record not written'));
    let result: ExecutionResult;
    let secretValues: string[] = [];
    // Claimed while the replica began to stop: recorded as stopped rather than started.
    if (state === 'stopping') controller.abort('shutdown');
    try {
      try {
        const r = controller.signal.aborted ? NOT_RUN : await runClaimed(execution, controller, known);
        secretValues = r.secretValues ?? [];
        result = r;
      } catch (err) {
        logger.error({ err, execution_id: execution.id }, 'execution failed inside the tool-runner');
        result = { status: 'failed', output: null, stderr: '', error: { code: 'INTERNAL_ERROR', message: 'the tool-runner failed while running this execution' }, truncated: false, exitCode: null, warnings: [] };
      } finally {
        running.delete(execution.id);
      }
      if (controller.signal.aborted && controller.signal.reason === 'shutdown' && result.status === 'cancelled') {
        result = { ...result, status: 'failed', error: { code: 'RUNNER_STOPPED', message: 'the tool-runner replica stopped while this execution ran' } };
      }
      const { secretValues: _drop, ...plain } = result as ExecutionResult & { secretValues?: string[] };
      const finished = await finish(execution, redactResult(plain, secretValues));
      secretValues.length = 0;
      if (finished) {
        deps.notifier.notify(finished.id);
        logger.info({ execution_id: finished.id, tool_id: finished.toolId, status: finished.status, duration_ms: finished.durationMs, via }, 'execution finished');
      } else logger.warn({ execution_id: execution.id }, 'execution result dropped: the lease was lost before it finished');
      return finished;
    } finally {
      slots.release();
    }
  }

  /**
   * Changes executions and commits what they report with the change (then
   * kicks the relay): the JobResults of those a schedule started, and the
   * tool's `executed` ResourceChanged for those that finished.
   * `reports` false: known to report nothing (a plain execution's claim), so
   * no transaction is needed.
   */
  async function reporting<T extends ExecutionRecord | undefined | ExecutionRecord[]>(reports: boolean, change: (repo: ExecutionQueries) => Promise<T>): Promise<T> {
    if (!reports) return change(deps.executions());
    let reported = false;
    const changed = await deps.executions().transaction(async (tx) => {
      const result = await change(tx);
      reported = await enqueueExecutionReports(tx, deps.subjects, Array.isArray(result) ? result : [result]);
      return result;
    });
    if (reported) deps.audit.kick();
    return changed;
  }

  // Every finish reports: the tool's stats changed (and a scheduled execution's JobResult).
  const finish = (execution: ExecutionRecord, result: ExecutionResult) => reporting(true, (repo) => repo.finish(execution.id, deps.runnerId, result));

  /**
   * Claims with the slot held; gives the slot back when someone else has it
   * (or it finished, or was cancelled). A scheduled execution's claim reports
   * its JobResult running.
   */
  async function claimHeld(id: string): Promise<ExecutionRecord | undefined> {
    let claimed: ExecutionRecord | undefined;
    try {
      claimed = await reporting(true, (repo) => repo.claim(id, deps.runnerId, deps.leaseMs));
    } finally {
      if (!claimed) slots.release();
    }
    return claimed;
  }

  const handler: MessageHandler = async (msg, log) => {
    const job = decodeToolJob(msg.data);
    const id = job.executionId.toLowerCase();
    const heartbeat = setInterval(() => msg.working(), 20_000);
    try {
      if (!slots.tryAcquire()) {
        // Every slot is taken (perhaps by executions run in place, whose jobs
        // arrive here too): drop a job with nothing left to run before queueing for a slot.
        const current = await deps.executions().find(id);
        if (!current || current.status !== 'queued' || current.cancelRequested) {
          log.debug({ execution_id: job.executionId }, 'execution already claimed, finished or cancelled: job dropped');
          return;
        }
        // Rejects when the replica stops: the job is nak'ed and redelivered to another replica.
        await slots.acquire();
      }
      const execution = await claimHeld(id);
      if (!execution) {
        log.debug({ execution_id: job.executionId }, 'execution already claimed, finished or cancelled: job dropped');
        return;
      }
      await run(execution, 'queue');
    } finally {
      clearInterval(heartbeat);
    }
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
  let lastCancelCheck = 0;
  const notifiedPollMs = deps.notifiedPollMs ?? 5_000;

  return {
    handler,
    /**
     * A free slot held for a waiting ExecuteTool that records its execution as
     * already running here (no job, no claim): `run` it once committed, or
     * `release` it when nothing was recorded. Undefined when no slot is free.
     */
    reserveHere(): InPlaceReservation | undefined {
      if (state !== 'started' || !slots.tryAcquire()) return undefined;
      let settled = false;
      return {
        claim: { runnerId: deps.runnerId, leaseMs: deps.leaseMs },
        run(execution, tool) {
          settled = true;
          const task = run(execution, 'request', tool).catch((err: unknown) => {
            logger.error({ err, execution_id: execution.id }, 'execution run in place failed; the sweeper takes over');
            return undefined;
          });
          inPlace.add(task);
          void task.finally(() => inPlace.delete(task));
          return task;
        },
        release() {
          if (settled) return;
          settled = true;
          slots.release();
        },
      };
    },
    /** A cancel signal for `id`: aborts it if it runs here and its cancellation is recorded (the signal alone is only a hint). */
    async cancelSignalled(id: string): Promise<void> {
      if (!running.has(id)) return;
      abort(await deps.executions().cancelRequested(deps.runnerId, [id]));
    },
    /** Starts lease renewal, the cancel watch and the sweeper. */
    start(): void {
      state = 'started';
      lastCancelCheck = Date.now();
      timers.push(setInterval(guard('renew', async () => abort(await deps.executions().renewLeases(deps.runnerId, [...running.keys()], deps.leaseMs))), Math.max(500, Math.floor(deps.leaseMs / 3))));
      timers.push(
        setInterval(
          guard('cancel', async () => {
            // Signals carry cancellations at once; re-reading is the safety net.
            if (running.size === 0 || (deps.listening?.() && Date.now() - lastCancelCheck < notifiedPollMs)) return;
            lastCancelCheck = Date.now();
            abort(await deps.executions().cancelRequested(deps.runnerId, [...running.keys()]));
          }),
          deps.cancelPollMs ?? 500,
        ),
      );
      timers.push(
        setInterval(
          guard('sweep', async () => {
            const lost = await reporting(true, async (repo) => [...(await repo.sweepExpired()), ...(await repo.expireQueued(deps.maxQueuedMs))]);
            for (const e of lost) {
              logger.warn({ execution_id: e.id, runner_id: e.runnerId, code: e.error?.code }, e.error?.message ?? 'execution failed by the sweeper');
              deps.notifier.notify(e.id);
            }
          }),
          deps.sweepMs ?? Math.max(1_000, Math.floor(deps.leaseMs / 2)),
        ),
      );
      for (const t of timers) t.unref();
    },
    /**
     * Aborts what still runs (recorded RUNNER_STOPPED), turns away jobs
     * waiting for a slot, stops the timers, and waits for the runs in place to
     * be stored; call after the consumer stopped pulling.
     */
    async stop(): Promise<void> {
      state = 'stopping';
      slots.close();
      for (const c of running.values()) c.abort('shutdown');
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...inPlace]);
    },
    running: () => running.size,
  };
}

export type Worker = ReturnType<typeof createWorker>;
