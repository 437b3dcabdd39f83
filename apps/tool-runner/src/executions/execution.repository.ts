import type { EntityManager } from '@mikro-orm/postgresql';
import { CANCEL_CHANNEL, FINISHED_CHANNEL } from './execution-events.ts';
import type { ExecutionError, ExecutionRecord, ExecutionResult, ExecutionStatus, ToolStats } from './execution.types.ts';

interface ExecutionRow {
  id: string;
  tool_id: string;
  tool_version: number;
  owner_id: string;
  status: ExecutionStatus;
  input: unknown;
  output: unknown;
  stderr: string;
  error: ExecutionError | string | null;
  truncated: boolean;
  exit_code: number | null;
  warnings: string[];
  runner_id: string | null;
  cancel_requested: boolean;
  created_at: Date | string;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  duration_ms: string | number | null;
  idempotency_key: string | null;
  schedule_id: string | null;
  schedule_run_id: string | null;
}

const COLUMNS = `e.id, e.tool_id, e.tool_version, e.owner_id, e.status, e.input, e.output, e.stderr, e.error, e.truncated, e.exit_code, e.warnings,
  e.runner_id, e.cancel_requested, e.created_at, e.started_at, e.completed_at, e.duration_ms, e.idempotency_key, e.schedule_id, e.schedule_run_id`;
const date = (v: Date | string | null) => (v === null ? null : v instanceof Date ? v : new Date(v));
/**
 * Runs a data-modifying statement (`... returning <COLUMNS>`) and signals
 * FINISHED_CHANNEL for each row in the same statement, so other replicas'
 * waiters hear it once it commits.
 */
const signalFinished = (statement: string) => `with changed as (${statement}) select changed.*, pg_notify('${FINISHED_CHANNEL}', changed.id::text) as signalled from changed`;
// jsonb columns arrive parsed by the driver (a JSON string value is a JS string).
const parse = (v: unknown) => v;

const toRecord = (r: ExecutionRow): ExecutionRecord => ({
  id: r.id,
  toolId: r.tool_id,
  toolVersion: r.tool_version,
  ownerId: r.owner_id,
  status: r.status,
  input: parse(r.input),
  output: r.output === null ? null : parse(r.output),
  stderr: r.stderr,
  error: r.error === null ? null : (parse(r.error) as ExecutionError),
  truncated: r.truncated,
  exitCode: r.exit_code,
  warnings: r.warnings,
  runnerId: r.runner_id,
  cancelRequested: r.cancel_requested,
  createdAt: date(r.created_at)!,
  startedAt: date(r.started_at),
  completedAt: date(r.completed_at),
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  idempotencyKey: r.idempotency_key,
  scheduleId: r.schedule_id,
  scheduleRunId: r.schedule_run_id,
});

/** A queued execution to record. */
export interface NewExecution {
  readonly id: string;
  readonly toolId: string;
  readonly toolVersion: number;
  readonly ownerId: string;
  readonly input: unknown;
  readonly now: Date;
  readonly idempotencyKey?: string;
  readonly scheduleId?: string;
  readonly scheduleRunId?: string;
  /** Recorded as running on this replica at once (a waiting ExecuteTool that holds a free slot): no job is queued for it. */
  readonly claimedBy?: { readonly runnerId: string; readonly leaseMs: number };
}

/** The only place that touches `tools.executions`. */
function createQueries(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;

  return {
    em,

    /**
     * Records a queued execution unless its owner already has `limit` queued
     * or running: counted under a per-user transaction lock (taken in its own
     * statement first, so the count sees whatever the previous holder
     * committed), then counted and inserted in one statement. Call inside a
     * transaction. Returns the count before the insert. With an idempotency
     * key the owner already used (checked under the same lock, so a
     * concurrent repeat waits and sees it), nothing is inserted or counted:
     * `existing` is the execution that key started.
     */
    async insertQueuedWithin(limit: number, e: NewExecution): Promise<{ active: number; inserted: boolean; existing?: ExecutionRecord }> {
      await run('select pg_advisory_xact_lock(hashtext(?))', [`tools.active:${e.ownerId}`]);
      if (e.idempotencyKey) {
        const [found] = await run<ExecutionRow[]>(`select ${COLUMNS} from tools.executions e where e.owner_id = ? and e.idempotency_key = ?`, [e.ownerId, e.idempotencyKey]);
        if (found) return { active: 0, inserted: false, existing: toRecord(found) };
      }
      const [row] = await run<{ active: number; inserted: boolean }[]>(
        `with active as (select count(*)::int as n from tools.executions where owner_id = ? and status in ('queued', 'running')),
           added as (insert into tools.executions (id, tool_id, tool_version, owner_id, status, input, created_at, idempotency_key, schedule_id, schedule_run_id, runner_id, started_at, lease_until)
             select ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?::text, case when ?::text is null then null else now() end, now() + (?::text || ' milliseconds')::interval
             from active where n < ? returning id)
         select (select n from active) as active, exists (select 1 from added) as inserted`,
        [
          e.ownerId,
          e.id,
          e.toolId,
          e.toolVersion,
          e.ownerId,
          e.claimedBy ? 'running' : 'queued',
          JSON.stringify(e.input ?? null),
          e.now,
          e.idempotencyKey || null,
          e.scheduleId || null,
          e.scheduleRunId || null,
          e.claimedBy?.runnerId ?? null,
          e.claimedBy?.runnerId ?? null,
          e.claimedBy ? String(e.claimedBy.leaseMs) : null,
          limit,
        ],
      );
      return { active: row?.active ?? 0, inserted: row?.inserted ?? false };
    },

    async find(id: string): Promise<ExecutionRecord | undefined> {
      const rows = await run<ExecutionRow[]>(`select ${COLUMNS} from tools.executions e where e.id = ?`, [id]);
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    /** A tool's executions, newest first; `ownerId` limits them to one user's. */
    async list(toolId: string, filter: { ownerId?: string; status?: string; limit: number; offset: number }): Promise<{ items: ExecutionRecord[]; total: number }> {
      const where = ['e.tool_id = ?'];
      const params: unknown[] = [toolId];
      if (filter.ownerId) {
        where.push('e.owner_id = ?');
        params.push(filter.ownerId);
      }
      if (filter.status) {
        where.push('e.status = ?');
        params.push(filter.status);
      }
      const clause = where.join(' and ');
      const [count] = await run<{ n: string }[]>(`select count(*) as n from tools.executions e where ${clause}`, params);
      const rows = await run<ExecutionRow[]>(`select ${COLUMNS} from tools.executions e where ${clause} order by e.created_at desc, e.id limit ? offset ?`, [...params, filter.limit, filter.offset]);
      return { items: rows.map(toRecord), total: Number(count?.n ?? 0) };
    },

    async stats(toolId: string, ownerId?: string): Promise<ToolStats> {
      const [r] = await run<Record<string, string | number | Date | null>[]>(
        `select count(*)::bigint as executions,
           count(*) filter (where status = 'completed')::bigint as completed,
           count(*) filter (where status = 'failed')::bigint as failed,
           count(*) filter (where status = 'timed_out')::bigint as timed_out,
           count(*) filter (where status = 'cancelled')::bigint as cancelled,
           coalesce(percentile_cont(0.5) within group (order by duration_ms) filter (where duration_ms is not null), 0) as p50,
           coalesce(percentile_cont(0.95) within group (order by duration_ms) filter (where duration_ms is not null), 0) as p95,
           max(created_at) as last_at
         from tools.executions where tool_id = ? ${ownerId ? 'and owner_id = ?' : ''}`,
        ownerId ? [toolId, ownerId] : [toolId],
      );
      return {
        executions: Number(r?.executions ?? 0),
        completed: Number(r?.completed ?? 0),
        failed: Number(r?.failed ?? 0),
        timedOut: Number(r?.timed_out ?? 0),
        cancelled: Number(r?.cancelled ?? 0),
        p50DurationMs: Math.round(Number(r?.p50 ?? 0)),
        p95DurationMs: Math.round(Number(r?.p95 ?? 0)),
        lastExecutedAt: r?.last_at ? date(r.last_at as Date | string) : null,
      };
    },

    /** The owners of these tools, deleted or not (for the events an execution's end reports about its tool). */
    async toolOwners(toolIds: readonly string[]): Promise<Map<string, string>> {
      if (toolIds.length === 0) return new Map();
      const rows = await run<{ id: string; owner_id: string }[]>('select id, owner_id from tools.tools where id = any(?::uuid[])', [`{${[...new Set(toolIds)].join(',')}}`]);
      return new Map(rows.map((r) => [r.id, r.owner_id]));
    },

    /** queued → running for this replica; undefined when someone else has it, it finished, or it was cancelled. */
    async claim(id: string, runnerId: string, leaseMs: number): Promise<ExecutionRecord | undefined> {
      const rows = await run<ExecutionRow[]>(
        `update tools.executions e set status = 'running', runner_id = ?, started_at = now(), lease_until = now() + (? || ' milliseconds')::interval
         where e.id = ? and e.status = 'queued' and not e.cancel_requested returning ${COLUMNS}`,
        [runnerId, String(leaseMs), id],
      );
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    /** Extends this replica's leases; returns the ids among them whose cancellation was asked for. */
    async renewLeases(runnerId: string, ids: readonly string[], leaseMs: number): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await run<{ id: string; cancel_requested: boolean }[]>(
        `update tools.executions set lease_until = now() + (? || ' milliseconds')::interval
         where id = any(?::uuid[]) and runner_id = ? and status = 'running' returning id, cancel_requested`,
        [String(leaseMs), `{${ids.join(',')}}`, runnerId],
      );
      return rows.filter((r) => r.cancel_requested).map((r) => r.id);
    },

    /** Among this replica's running executions, those whose cancellation was asked for. */
    async cancelRequested(runnerId: string, ids: readonly string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await run<{ id: string }[]>(`select id from tools.executions where id = any(?::uuid[]) and runner_id = ? and status = 'running' and cancel_requested`, [
        `{${ids.join(',')}}`,
        runnerId,
      ]);
      return rows.map((r) => r.id);
    },

    /** Stores the outcome if this replica still holds the execution (a swept one stays RUNNER_LOST). */
    async finish(id: string, runnerId: string, result: ExecutionResult): Promise<ExecutionRecord | undefined> {
      const rows = await run<ExecutionRow[]>(
        signalFinished(`update tools.executions e set status = ?, output = ?::jsonb, stderr = ?, error = ?::jsonb, truncated = ?, exit_code = ?, warnings = ?::text[],
           completed_at = now(), duration_ms = greatest(0, (extract(epoch from (now() - e.started_at)) * 1000)::bigint), lease_until = null
         where e.id = ? and e.runner_id = ? and e.status = 'running' returning ${COLUMNS}`),
        [
          result.status,
          result.output === undefined ? null : JSON.stringify(result.output),
          result.stderr,
          result.error ? JSON.stringify(result.error) : null,
          result.truncated,
          result.exitCode,
          `{${result.warnings.map((w) => `"${w.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`,
          id,
          runnerId,
        ],
      );
      return rows[0] ? toRecord(rows[0]) : undefined;
    },

    /**
     * Cancels: a queued execution becomes cancelled at once (it never starts;
     * its waiters are signalled); a running one is flagged and its replica
     * signalled on CANCEL_CHANNEL. Returns the status after.
     */
    async requestCancel(id: string): Promise<ExecutionStatus | undefined> {
      const rows = await run<{ status: ExecutionStatus }[]>(
        `with changed as (update tools.executions e set cancel_requested = true,
           status = case when e.status = 'queued' then 'cancelled' else e.status end,
           completed_at = case when e.status = 'queued' then now() else e.completed_at end,
           duration_ms = case when e.status = 'queued' then 0 else e.duration_ms end,
           error = case when e.status = 'queued' then '{"code":"CANCELLED","message":"cancelled before it started"}'::jsonb else e.error end
         where e.id = ? and e.status in ('queued', 'running') returning e.id, e.status)
         select status, pg_notify(case when status = 'running' then '${CANCEL_CHANNEL}' else '${FINISHED_CHANNEL}' end, id::text) as signalled from changed`,
        [id],
      );
      return rows[0]?.status;
    },

    /** Fails executions still queued after `maxQueuedMs` (their job was lost or dead-lettered), so they stop counting against the user's limit. */
    async expireQueued(maxQueuedMs: number, limit = 100): Promise<ExecutionRecord[]> {
      const rows = await run<ExecutionRow[]>(
        signalFinished(`update tools.executions e set status = 'failed', completed_at = now(), duration_ms = 0,
           error = jsonb_build_object('code', 'QUEUE_EXPIRED', 'message', 'not started within ' || ? || ' s: no tool-runner took the job')
         where e.id in (select id from tools.executions where status = 'queued' and created_at < now() - (? || ' milliseconds')::interval order by created_at limit ? for update skip locked)
         returning ${COLUMNS}`),
        [String(Math.round(maxQueuedMs / 1_000)), String(maxQueuedMs), limit],
      );
      return rows.map(toRecord);
    },

    /** Fails running executions whose lease expired (their replica died): RUNNER_LOST. Returns them. */
    async sweepExpired(limit = 100): Promise<ExecutionRecord[]> {
      const rows = await run<ExecutionRow[]>(
        signalFinished(`update tools.executions e set status = 'failed', error = '{"code":"RUNNER_LOST","message":"runner lost: the replica running it stopped renewing its lease"}'::jsonb,
           completed_at = now(), duration_ms = greatest(0, (extract(epoch from (now() - e.started_at)) * 1000)::bigint), lease_until = null
         where e.id in (select id from tools.executions where status = 'running' and lease_until < now() order by lease_until limit ? for update skip locked)
         returning ${COLUMNS}`),
        [limit],
      );
      return rows.map(toRecord);
    },
  };
}

export type ExecutionQueries = ReturnType<typeof createQueries>;

export interface ExecutionRepository extends ExecutionQueries {
  /** Runs `work` in one transaction, with queries bound to it. */
  transaction<T>(work: (tx: ExecutionQueries) => Promise<T>): Promise<T>;
}

export function createExecutionRepository(em: EntityManager): ExecutionRepository {
  return { ...createQueries(em), transaction: (work) => em.transactional((tx) => work(createQueries(tx as EntityManager))) };
}
