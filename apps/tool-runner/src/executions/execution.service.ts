import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { subjectOf, requireScoped, type Principal } from '@csda/auth';
import { AppError, AuthorizationError, ConflictError, NotFoundError, ValidationError } from '@csda/errors';
import { ExecuteToolJobSchema } from '@csda/proto/csda/jobs/v1/tool_jobs_pb.js';
import { auditOutboxMessage, enqueueOutbox, outboxMessage, type AuditOutbox, type Subjects } from '@csda/service-kit';
import type { SchemaCompiler } from '../tools/input-schema.ts';
import { checkPaging, type ToolService } from '../tools/tool.service.ts';
import type { ExecutionWaiter } from './execution-waiter.ts';
import type { ExecutionRepository } from './execution.repository.ts';
import { EXECUTION_STATUSES, FINISHED, type ExecutionRecord } from './execution.types.ts';
import { enqueueExecutionReports } from './execution-reports.ts';
import type { Worker } from './worker.ts';

export const EXECUTE_SUBJECT = 'csda.jobs.tools.execute';
const SERVICE = 'tool-runner';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_INPUT_BYTES = 1024 * 1024;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,200}$/;
const SCHEDULE_REF = /^[A-Za-z0-9-]{1,100}$/;
/** The only caller that may tie an execution to a schedule: the scheduler acting for the user. */
const SCHEDULER = 'service:scheduler';

/** ExecuteTool's optional fields beyond the tool, input and wait. */
export interface ExecuteOptions {
  readonly idempotencyKey?: string;
  readonly scheduleId?: string;
  readonly scheduleRunId?: string;
}

/** Checks the options; a schedule reference from anyone but the scheduler acting for a user is refused. */
function checkOptions(p: Principal, o: ExecuteOptions): ExecuteOptions {
  const details: Record<string, string> = {};
  if (o.idempotencyKey && !IDEMPOTENCY_KEY.test(o.idempotencyKey)) details.idempotency_key = '1-200 characters of A-Z a-z 0-9 . _ : -';
  if (o.scheduleId && !SCHEDULE_REF.test(o.scheduleId)) details.schedule_id = '1-100 characters of A-Z a-z 0-9 -';
  if (o.scheduleRunId && !SCHEDULE_REF.test(o.scheduleRunId)) details.schedule_run_id = '1-100 characters of A-Z a-z 0-9 -';
  if (o.scheduleRunId && !o.scheduleId) details.schedule_id = 'required with schedule_run_id';
  if (Object.keys(details).length > 0) throw new ValidationError('Invalid execution options', details);
  if (o.scheduleId && !(p.kind === 'service' && p.id === SCHEDULER && p.onBehalfOf)) throw new AuthorizationError('Only the scheduler acting for a user may set schedule_id');
  return { idempotencyKey: o.idempotencyKey || undefined, scheduleId: o.scheduleId || undefined, scheduleRunId: o.scheduleRunId || undefined };
}

export interface ExecutionServiceDeps {
  readonly tools: Pick<ToolService, 'executable' | 'readable'>;
  readonly repository: () => ExecutionRepository;
  readonly schemas: Pick<SchemaCompiler, 'violations'>;
  readonly subjects: Subjects;
  /** Kicked after the commit: the relay publishes the job and the audit record at once. */
  readonly audit: Pick<AuditOutbox, 'kick'>;
  readonly waiter: Pick<ExecutionWaiter, 'until'>;
  /** This replica's worker: a waiting ExecuteTool runs its execution here when a slot is free. */
  readonly runner: Pick<Worker, 'reserveHere'>;
  readonly userMaxRunning: number;
  readonly waitMaxMs: number;
}

/**
 * What a principal sees of an execution: everything when they started it; the
 * tool's owner sees others' executions of it without their input, output and
 * stderr (those are the other user's data).
 */
function viewFor(p: Principal, e: ExecutionRecord): ExecutionRecord {
  return e.ownerId === subjectOf(p).id ? e : { ...e, input: null, output: null, stderr: '' };
}

function checkExecutionId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('execution', id.slice(0, 64));
  return id.toLowerCase();
}

/**
 * Executions: ExecuteTool (validate, limit, record, enqueue), reads, cancel,
 * stats. An execution is visible to whoever started it and to the tool's owner.
 */
export function createExecutionService(deps: ExecutionServiceDeps) {
  const visible = async (p: Principal, id: string): Promise<ExecutionRecord> => {
    const execution = await deps.repository().find(checkExecutionId(id));
    if (!execution) throw new NotFoundError('execution', id);
    if (execution.ownerId !== subjectOf(p).id) {
      // The tool's owner sees every execution of it; anyone else only their own.
      const tool = await deps.tools.readable(p, execution.toolId).catch(() => undefined);
      if (!tool || tool.ownerId !== subjectOf(p).id) throw new NotFoundError('execution', id);
    }
    return execution;
  };

  /** `work`'s result, or undefined once `deadline` (epoch ms) passes first. */
  async function beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), undefined)));
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async execute(p: Principal, toolId: string, input: unknown, wait: boolean, options: ExecuteOptions = {}): Promise<ExecutionRecord> {
      const { idempotencyKey, scheduleId, scheduleRunId } = checkOptions(p, options);
      const tool = await deps.tools.executable(p, toolId);
      const value = input === undefined || input === null ? {} : input;
      if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('Invalid input', { input: 'a JSON object' });
      if (JSON.stringify(value).length > MAX_INPUT_BYTES) throw new ValidationError('Input is too large', { input: `at most ${MAX_INPUT_BYTES} bytes of JSON` });
      const violations = deps.schemas.violations(tool.inputSchema as Record<string, unknown>, value);
      const paths = Object.keys(violations);
      if (paths.length > 0) throw new ValidationError(`Input does not match the tool's input_schema: ${paths.join(', ')}`, violations);
      const owner = subjectOf(p);
      const id = randomUUID();
      const repo = deps.repository();
      // Waiting, with a slot free here: recorded as running on this replica and run at once, with no
      // job to publish, deliver and drop. Otherwise queued: a consumer (of any replica) runs it.
      const reservation = wait ? deps.runner.reserveHere() : undefined;
      // One transaction: the record (within the user's limit), its job and its audit in the outbox (one insert for both).
      const existing = await repo.transaction(async (tx) => {
        const recorded = await tx.insertQueuedWithin(deps.userMaxRunning, {
          id,
          toolId: tool.id,
          toolVersion: tool.version,
          ownerId: owner.id,
          input: value,
          now: new Date(),
          idempotencyKey,
          scheduleId,
          scheduleRunId,
          claimedBy: reservation?.claim,
        });
        const { active, inserted } = recorded;
        if (recorded.existing) {
          // A repeat: the execution the key started, if it was asked for the same tool and input.
          if (recorded.existing.toolId !== tool.id || !isDeepStrictEqual(recorded.existing.input, value)) {
            throw new ConflictError('This idempotency_key was used for another tool or input', { idempotency_key: 'already used for another execution request' });
          }
          return recorded.existing;
        }
        if (!inserted) {
          throw new AppError('RATE_LIMITED', `At most ${deps.userMaxRunning} executions may be queued or running per user at once (TOOLS_USER_MAX_RUNNING); wait for one to finish`, {
            details: { limit: String(deps.userMaxRunning), active: String(active), retry_after_s: '1' },
          });
        }
        const job = () => create(ExecuteToolJobSchema, { executionId: id, toolId: tool.id, toolVersion: tool.version, enqueuedAtMs: BigInt(Date.now()) });
        await enqueueOutbox(tx.em, 'tools', [
          ...(reservation ? [] : [outboxMessage(deps.subjects.subject(EXECUTE_SUBJECT), ExecuteToolJobSchema, job(), { eventId: `execute:${id}`, aggregate: `execution:${id}` })]),
          auditOutboxMessage(deps.subjects, SERVICE, {
            action: 'tool_execution_queued',
            actor: p.id,
            actorName: p.name,
            resourceType: 'execution',
            resourceId: id,
            details: {
              tool_id: tool.id,
              tool_version: String(tool.version),
              ...(p.onBehalfOf ? { on_behalf_of: p.onBehalfOf.id } : {}),
              ...(scheduleId ? { schedule_id: scheduleId } : {}),
            },
          }),
        ]);
        // A scheduled execution recorded as running reports it (JobResult running) with the record.
        if (reservation && scheduleId) await enqueueExecutionReports(tx, deps.subjects, [await tx.find(id)]);
        return undefined;
      }).catch((err: unknown) => {
        reservation?.release();
        throw err;
      });
      if (existing) reservation?.release();
      if (existing) return viewFor(p, wait && !FINISHED.includes(existing.status) ? await deps.waiter.until(existing.id, Date.now() + deps.waitMaxMs) : existing);
      deps.audit.kick();
      if (!wait) return (await repo.find(id))!;
      const deadline = Date.now() + deps.waitMaxMs;
      if (reservation) {
        const claimed = await repo.find(id).catch((err: unknown) => {
          // Recorded as running here but not started: the sweeper finds its lease expired (RUNNER_LOST).
          reservation.release();
          throw err;
        });
        return (await beforeDeadline(reservation.run(claimed!, tool), deadline)) ?? deps.waiter.until(id, deadline);
      }
      return deps.waiter.until(id, deadline);
    },

    async get(p: Principal, id: string): Promise<ExecutionRecord> {
      const execution = await visible(p, id);
      // Scoped callers (a schedule acting for its owner) read executions of the tool they were granted.
      requireScoped(p, 'tools:read', execution.toolId);
      return viewFor(p, execution);
    },

    async list(p: Principal, toolId: string, filter: { limit: number; offset: number; status: string }) {
      const tool = await deps.tools.readable(p, toolId);
      if (filter.status && !(EXECUTION_STATUSES as readonly string[]).includes(filter.status)) throw new ValidationError('Invalid filter', { status: EXECUTION_STATUSES.join(', ') });
      const mine = tool.ownerId === subjectOf(p).id ? undefined : subjectOf(p).id;
      const page = await deps.repository().list(tool.id, { ownerId: mine, status: filter.status || undefined, ...checkPaging(filter.limit, filter.offset) });
      return { items: page.items.map((e) => viewFor(p, e)), total: page.total };
    },

    async cancel(p: Principal, id: string): Promise<ExecutionRecord> {
      const execution = await visible(p, id);
      requireScoped(p, 'tools:execute', execution.toolId);
      // A queued execution is finished here: what it reports (the tool's `executed`, a scheduled one's JobResult) commits with the change.
      const reported = await deps.repository().transaction(async (tx) => (await tx.requestCancel(execution.id)) === 'cancelled' && enqueueExecutionReports(tx, deps.subjects, [await tx.find(execution.id)]));
      if (reported) deps.audit.kick();
      // A running execution is killed by its replica within about half a second.
      return viewFor(p, await deps.waiter.until(execution.id, Date.now() + 5_000));
    },

    async stats(p: Principal, toolId: string) {
      const tool = await deps.tools.readable(p, toolId);
      return deps.repository().stats(tool.id, tool.ownerId === subjectOf(p).id ? undefined : subjectOf(p).id);
    },
  };
}

export type ExecutionService = ReturnType<typeof createExecutionService>;
