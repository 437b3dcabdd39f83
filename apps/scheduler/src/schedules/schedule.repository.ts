import { ConflictError } from '@csda/errors';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MisfirePolicy, OverlapPolicy } from './slots.ts';
import { targetFromStored, type Target } from './targets.ts';

export interface ScheduleRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly ownerName: string;
  readonly name: string;
  readonly description: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly target: Target;
  readonly enabled: boolean;
  readonly misfirePolicy: MisfirePolicy;
  readonly overlapPolicy: OverlapPolicy;
  readonly nextRunAt: Date | null;
  readonly lastRunAt: Date | null;
  /** The last run's status, derived from its job when it started one. */
  readonly lastRunStatus: string;
  readonly pausedReason: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface RunRecord {
  readonly id: string;
  readonly scheduleId: string;
  readonly scheduledFor: Date;
  readonly firedAt: Date;
  readonly status: RunStatus;
  readonly jobId: string;
  readonly detail: string;
  readonly finishedAt: Date | null;
}

export interface NewSchedule {
  readonly id: string;
  readonly ownerId: string;
  readonly ownerName: string;
  readonly name: string;
  readonly description: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly target: Target;
  readonly enabled: boolean;
  readonly misfirePolicy: MisfirePolicy;
  readonly overlapPolicy: OverlapPolicy;
  readonly nextRunAt: Date | null;
  readonly now: Date;
}

export interface ScheduleChanges {
  name?: string;
  description?: string;
  cron?: string;
  timeZone?: string;
  target?: Target;
  enabled?: boolean;
  misfirePolicy?: MisfirePolicy;
  overlapPolicy?: OverlapPolicy;
  nextRunAt?: Date | null;
  lastRunAt?: Date | null;
  lastRunStatus?: string | null;
  pausedReason?: string | null;
}

/** Where a pass over due schedules has got to (their order: next_run_at, id). */
export interface DueCursor {
  readonly nextRunAt: Date;
  readonly id: string;
}

/** Who may see schedules: their owner, or everyone (system:read). */
export interface Visibility {
  readonly userId: string;
  readonly all: boolean;
}

/** A job's status as a run reports it: retrying is still running, dead is failed. */
const RUN_STATUS_SQL = `case when j.status is null then r.status
  when j.status = 'retrying' then 'running' when j.status = 'dead' then 'failed' else j.status end`;
const RUN_COLUMNS = `r.id, r.schedule_id, r.scheduled_for, r.fired_at, r.job_id, ${RUN_STATUS_SQL} as status,
  case when j.status in ('failed', 'dead') and j.last_error <> '' then j.last_error else r.detail end as detail,
  coalesce(j.finished_at, r.finished_at) as finished_at`;
const SCHEDULE_COLUMNS = `s.id, s.owner_id, s.owner_name, s.name, s.description, s.cron, s.time_zone, s.target_type, s.target, s.enabled,
  s.misfire_policy, s.overlap_policy, s.next_run_at, s.last_run_at, s.last_run_status, s.paused_reason, s.created_at, s.updated_at,
  (select ${RUN_STATUS_SQL} from scheduler.schedule_runs r left join scheduler.jobs j on j.id = r.job_id
    where r.schedule_id = s.id order by r.scheduled_for desc limit 1) as derived_status`;

interface ScheduleRow {
  id: string;
  owner_id: string;
  owner_name: string;
  name: string;
  description: string;
  cron: string;
  time_zone: string;
  target_type: string;
  target: unknown;
  enabled: boolean;
  misfire_policy: MisfirePolicy;
  overlap_policy: OverlapPolicy;
  next_run_at: Date | string | null;
  last_run_at: Date | string | null;
  last_run_status: string | null;
  paused_reason: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  derived_status: string | null;
}

interface RunRow {
  id: string;
  schedule_id: string;
  scheduled_for: Date | string;
  fired_at: Date | string;
  status: RunStatus;
  job_id: string | null;
  detail: string;
  finished_at: Date | string | null;
}

// The driver returns timestamps as strings on raw queries.
const toDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));

const toSchedule = (r: ScheduleRow): ScheduleRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  name: r.name,
  description: r.description,
  cron: r.cron,
  timeZone: r.time_zone,
  target: targetFromStored(r.target_type, typeof r.target === 'string' ? JSON.parse(r.target) : r.target),
  enabled: r.enabled,
  misfirePolicy: r.misfire_policy,
  overlapPolicy: r.overlap_policy,
  nextRunAt: toDate(r.next_run_at),
  lastRunAt: toDate(r.last_run_at),
  lastRunStatus: r.derived_status ?? r.last_run_status ?? '',
  pausedReason: r.paused_reason ?? '',
  createdAt: toDate(r.created_at)!,
  updatedAt: toDate(r.updated_at)!,
});

const toRun = (r: RunRow): RunRecord => ({
  id: r.id,
  scheduleId: r.schedule_id,
  scheduledFor: toDate(r.scheduled_for)!,
  firedAt: toDate(r.fired_at)!,
  status: r.status,
  jobId: r.job_id ?? '',
  detail: r.detail,
  finishedAt: toDate(r.finished_at),
});

const CHANGE_COLUMNS: Record<Exclude<keyof ScheduleChanges, 'target'>, string> = {
  name: 'name',
  description: 'description',
  cron: 'cron',
  timeZone: 'time_zone',
  enabled: 'enabled',
  misfirePolicy: 'misfire_policy',
  overlapPolicy: 'overlap_policy',
  nextRunAt: 'next_run_at',
  lastRunAt: 'last_run_at',
  lastRunStatus: 'last_run_status',
  pausedReason: 'paused_reason',
};

const visibleClause = (v: Visibility): { sql: string; params: unknown[] } => (v.all ? { sql: 'true', params: [] } : { sql: 's.owner_id = ?', params: [v.userId] });

/** Queries of `scheduler.schedules` / `schedule_runs`, bound to one EntityManager (or one transaction). */
function createQueries(em: EntityManager) {
  const run = <T>(sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<T>;
  const runNamed = (name: string | undefined, sql: string, params: unknown[]) =>
    run(sql, params).catch((err: unknown) => {
      if ((err as { code?: string }).code === '23505' && String((err as Error).message).includes('schedules_owner_name_unique')) {
        throw new ConflictError(`A schedule named "${name ?? ''}" already exists`, { name: name ?? '' });
      }
      throw err;
    });

  return {
    async insert(s: NewSchedule): Promise<void> {
      await runNamed(
        s.name,
        `insert into scheduler.schedules (id, owner_id, owner_name, name, description, cron, time_zone, target_type, target, enabled,
           misfire_policy, overlap_policy, next_run_at, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?)`,
        [
          s.id, s.ownerId, s.ownerName, s.name, s.description, s.cron, s.timeZone, s.target.type, JSON.stringify(s.target.data), s.enabled,
          s.misfirePolicy, s.overlapPolicy, s.nextRunAt, s.now, s.now,
        ],
      );
    },

    /** A visible, not deleted schedule; `lock` takes a row lock (waits for a claim in progress). */
    async findVisible(id: string, visibility: Visibility, lock = false): Promise<ScheduleRecord | undefined> {
      const v = visibleClause(visibility);
      const rows = await run<ScheduleRow[]>(
        `select ${SCHEDULE_COLUMNS} from scheduler.schedules s where s.id = ? and s.deleted_at is null and ${v.sql}${lock ? ' for update of s' : ''}`,
        [id, ...v.params],
      );
      return rows[0] ? toSchedule(rows[0]) : undefined;
    },

    async list(visibility: Visibility, filter: { enabled?: boolean; targetType?: string; limit: number; offset: number }): Promise<{ items: ScheduleRecord[]; total: number }> {
      const v = visibleClause(visibility);
      const where = ['s.deleted_at is null', v.sql];
      const params = [...v.params];
      if (filter.enabled !== undefined) {
        where.push('s.enabled = ?');
        params.push(filter.enabled);
      }
      if (filter.targetType) {
        where.push('s.target_type = ?');
        params.push(filter.targetType);
      }
      const [count] = await run<{ n: string }[]>(`select count(*) as n from scheduler.schedules s where ${where.join(' and ')}`, params);
      const rows = await run<ScheduleRow[]>(
        `select ${SCHEDULE_COLUMNS} from scheduler.schedules s where ${where.join(' and ')} order by s.created_at desc, s.id limit ? offset ?`,
        [...params, filter.limit, filter.offset],
      );
      return { items: rows.map(toSchedule), total: Number(count?.n ?? 0) };
    },

    async update(id: string, changes: ScheduleChanges, now: Date): Promise<void> {
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [key, value] of Object.entries(changes) as [keyof ScheduleChanges, unknown][]) {
        if (value === undefined) continue;
        if (key === 'target') {
          sets.push('target_type = ?', 'target = ?::jsonb');
          params.push((value as Target).type, JSON.stringify((value as Target).data));
        } else {
          sets.push(`${CHANGE_COLUMNS[key]} = ?`);
          params.push(value);
        }
      }
      if (sets.length === 0) return;
      await runNamed(changes.name, `update scheduler.schedules set ${sets.join(', ')}, updated_at = ? where id = ? and deleted_at is null`, [...params, now, id]);
    },

    async softDelete(id: string, now: Date): Promise<void> {
      await run('update scheduler.schedules set deleted_at = ?, enabled = false, next_run_at = null, updated_at = ? where id = ? and deleted_at is null', [now, now, id]);
    },

    async listRuns(scheduleId: string, paging: { limit: number; offset: number }): Promise<{ items: RunRecord[]; total: number }> {
      const [count] = await run<{ n: string }[]>('select count(*) as n from scheduler.schedule_runs where schedule_id = ?', [scheduleId]);
      const rows = await run<RunRow[]>(
        `select ${RUN_COLUMNS} from scheduler.schedule_runs r left join scheduler.jobs j on j.id = r.job_id
         where r.schedule_id = ? order by r.scheduled_for desc limit ? offset ?`,
        [scheduleId, paging.limit, paging.offset],
      );
      return { items: rows.map(toRun), total: Number(count?.n ?? 0) };
    },

    // ---- the loop's queries ----

    /** Due schedules (not locked), oldest slot first, after the cursor `after`: candidates to claim one by one. */
    async dueCandidates(now: Date, limit: number, after?: DueCursor): Promise<(DueCursor & { ownerId: string })[]> {
      const cursor = after ? 'and (next_run_at, id) > (?, ?::uuid)' : '';
      const rows = await run<{ id: string; owner_id: string; next_run_at: Date | string }[]>(
        `select id, owner_id, next_run_at from scheduler.schedules
         where enabled and deleted_at is null and next_run_at <= ? ${cursor} order by next_run_at, id limit ?`,
        [now, ...(after ? [after.nextRunAt, after.id] : []), limit],
      );
      return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, nextRunAt: toDate(r.next_run_at)! }));
    },

    /** Locks one schedule if it is still due and nobody else holds it (another replica's claim): else undefined. */
    async claimDue(id: string, now: Date): Promise<ScheduleRecord | undefined> {
      const rows = await run<ScheduleRow[]>(
        `select ${SCHEDULE_COLUMNS} from scheduler.schedules s
         where s.id = ? and s.enabled and s.deleted_at is null and s.next_run_at <= ? for update of s skip locked`,
        [id, now],
      );
      return rows[0] ? toSchedule(rows[0]) : undefined;
    },

    /** Enabled schedules paused for their owner, by id after `afterId` (the caller's round-robin cursor). */
    async pausedCandidates(limit: number, afterId?: string): Promise<{ id: string; ownerId: string }[]> {
      const rows = await run<{ id: string; owner_id: string }[]>(
        `select id, owner_id from scheduler.schedules
         where paused_reason is not null and enabled and deleted_at is null ${afterId ? 'and id > ?::uuid' : ''} order by id limit ?`,
        [...(afterId ? [afterId] : []), limit],
      );
      return rows.map((r) => ({ id: r.id, ownerId: r.owner_id }));
    },

    async claimPaused(id: string): Promise<ScheduleRecord | undefined> {
      const rows = await run<ScheduleRow[]>(
        `select ${SCHEDULE_COLUMNS} from scheduler.schedules s
         where s.id = ? and s.paused_reason is not null and s.enabled and s.deleted_at is null for update of s skip locked`,
        [id],
      );
      return rows[0] ? toSchedule(rows[0]) : undefined;
    },

    /** The job of the schedule's latest run that started one, with its raw job status ('' when the job record is missing). */
    async lastJob(scheduleId: string): Promise<{ jobId: string; status: string } | undefined> {
      const rows = await run<{ job_id: string; status: string | null }[]>(
        `select r.job_id, j.status from scheduler.schedule_runs r left join scheduler.jobs j on j.id = r.job_id
         where r.schedule_id = ? and r.job_id is not null order by r.scheduled_for desc limit 1`,
        [scheduleId],
      );
      return rows[0] ? { jobId: rows[0].job_id, status: rows[0].status ?? '' } : undefined;
    },

    /** Inserts a run for a slot; false when that slot already has one. */
    async insertRun(r: { id: string; scheduleId: string; scheduledFor: Date; firedAt: Date; status: 'queued' | 'skipped' | 'failed'; detail: string }): Promise<boolean> {
      const rows = await run<{ id: string }[]>(
        `insert into scheduler.schedule_runs (id, schedule_id, scheduled_for, fired_at, status, detail, finished_at)
         values (?, ?, ?, ?, ?, ?, ?) on conflict (schedule_id, scheduled_for) do nothing returning id`,
        [r.id, r.scheduleId, r.scheduledFor, r.firedAt, r.status, r.detail, r.status === 'queued' ? null : r.firedAt],
      );
      return rows.length === 1;
    },

    async completeRun(id: string, outcome: { status: 'queued' | 'failed'; jobId?: string; detail: string; at: Date }): Promise<void> {
      await run('update scheduler.schedule_runs set status = ?, job_id = ?, detail = ?, finished_at = ? where id = ?', [
        outcome.status,
        outcome.jobId ?? null,
        outcome.detail,
        outcome.status === 'queued' ? null : outcome.at,
        id,
      ]);
    },
  };
}

export type ScheduleQueries = ReturnType<typeof createQueries>;

/** The only place that touches `scheduler.schedules` and `scheduler.schedule_runs`; one instance per request or tick. */
export function createScheduleRepository(em: EntityManager) {
  return {
    ...createQueries(em),
    /** Runs `work` in one transaction, with queries bound to it (and its EntityManager, for jobs recorded with it). */
    transaction<T>(work: (tx: ScheduleQueries, txEm: EntityManager) => Promise<T>): Promise<T> {
      return em.transactional((txEm) => work(createQueries(txEm as EntityManager), txEm as EntityManager));
    },
  };
}

export type ScheduleRepository = ReturnType<typeof createScheduleRepository>;
