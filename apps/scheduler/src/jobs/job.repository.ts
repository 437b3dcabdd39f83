import type { EntityManager } from '@mikro-orm/postgresql';
import { FINISHED_STATUSES, JobSchema, type JobRecord, type JobStatus, type JobTrigger } from './job.entity.ts';
import { latestPerJob, triggerOf, type JobResultFact } from './job-result.ts';

/** A job as enqueued: its record starts queued, holding the encoded message until it is published. */
export interface NewJob {
  readonly id: string;
  readonly type: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly ownerId: string;
  readonly trigger: JobTrigger;
  readonly scheduleId?: string | undefined;
  readonly scheduleRunId?: string | undefined;
  readonly payload: Uint8Array;
}

export interface JobFilter {
  /** Only this owner's jobs; undefined = everyone's. */
  readonly ownerId?: string | undefined;
  readonly type?: string | undefined;
  readonly status?: JobStatus | undefined;
  readonly resourceId?: string | undefined;
  /** created_at within [since, until). */
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly limit: number;
  readonly offset: number;
}

/** Rows per multi-row statement. */
const CHUNK = 1_000;
/**
 * A queued job whose message was published this long ago is published again:
 * just past JetStream's 24 h de-duplication window, so a message lost from the
 * stream (expired while no worker ran) is replaced, and a repeat inside the
 * window is dropped there. A duplicate that does get through is a no-op for
 * the worker (it names the version it replaces).
 */
const REPUBLISH_AFTER = `interval '25 hours'`;
const NEEDS_PUBLISH = (j: string) => `${j}.status = 'queued' and (${j}.published_at is null or ${j}.published_at < now() - ${REPUBLISH_AFTER})`;
const T = '"scheduler"."jobs"';
const FINISHED = `(${FINISHED_STATUSES.map((s) => `'${s}'`).join(', ')})`;
/** statusRank() in SQL. */
const rank = (column: string) => `(case ${column} when 'queued' then 0 when 'running' then 1 when 'retrying' then 2 else 3 end)`;
const ts = (column: string) => `to_timestamp(nullif(${column}, 0) / 1000.0)`;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** The only place that touches `scheduler.jobs`. Runs inside `em`'s transaction when it has one. */
export function createJobRepository(em: EntityManager) {
  const exec = <R>(sql: string, params: unknown[]) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext()) as Promise<R>;

  return {
    /**
     * Inserts queued records (an id already recorded is left as it is) and
     * returns the ids whose message is still to be published: the new ones,
     * those recorded before whose publish never succeeded, and queued ones
     * published over 25 hours ago.
     */
    async insertQueued(jobs: readonly NewJob[]): Promise<{ created: number; toPublish: Set<string> }> {
      let created = 0;
      const toPublish = new Set<string>();
      // In id order: concurrent enqueuers of the same ids then wait on each other instead of deadlocking.
      const sorted = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const chunk of chunks(sorted)) {
        const rows = chunk.map((j) => ({
          id: j.id,
          type: j.type,
          resource_type: j.resourceType,
          resource_id: j.resourceId,
          owner_id: j.ownerId,
          trigger: j.trigger,
          schedule_id: j.scheduleId || null,
          schedule_run_id: j.scheduleRunId || null,
          payload: Buffer.from(j.payload).toString('base64'),
        }));
        const result = await exec<{ id: string; created: boolean }[]>(
          `with input as (
             select * from jsonb_to_recordset(?::jsonb) as x(id text, type text, resource_type text, resource_id text, owner_id text,
               trigger text, schedule_id text, schedule_run_id text, payload text)
           ), ins as (
             insert into ${T} (id, type, resource_type, resource_id, owner_id, status, trigger, schedule_id, schedule_run_id, payload)
             select id, type, resource_type, resource_id, owner_id, 'queued', trigger, schedule_id, schedule_run_id, decode(payload, 'base64') from input order by id
             on conflict (id) do nothing
             returning id
           )
           select id, true as created from ins
           union all
           select j.id, false from ${T} j join input i on i.id = j.id where ${NEEDS_PUBLISH('j')}`,
          [JSON.stringify(rows)],
        );
        for (const row of result) {
          if (row.created) created++;
          toPublish.add(row.id);
        }
      }
      return { created, toPublish };
    },

    async markPublished(ids: readonly string[]): Promise<void> {
      for (const chunk of chunks(ids)) {
        await exec(`update ${T} set published_at = now() where id = any(array(select jsonb_array_elements_text(?::jsonb)))`, [JSON.stringify(chunk)]);
      }
    },

    /** Queued jobs whose message never reached the stream (a failed publish) or was published over 25 hours ago, oldest first. */
    async unpublished(olderThanMs: number, limit: number): Promise<{ id: string; payload: Uint8Array }[]> {
      const rows = await exec<{ id: string; payload: Buffer }[]>(
        `select id, payload from ${T}
          where status = 'queued' and payload is not null
            and ((published_at is null and created_at < now() - (? || ' milliseconds')::interval) or published_at < now() - ${REPUBLISH_AFTER})
          order by created_at limit ?`,
        [String(olderThanMs), limit],
      );
      return rows.map((r) => ({ id: r.id, payload: new Uint8Array(r.payload) }));
    },

    /**
     * Folds workers' results: idempotent and monotonic. A result for an
     * older attempt, a lower-ranked status for the same attempt, or anything
     * after a finished status changes nothing; a result whose queued record
     * is not there yet creates it. Returns the number of records changed.
     */
    async fold(results: readonly JobResultFact[]): Promise<number> {
      let changed = 0;
      const latest = latestPerJob(results).sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
      for (const chunk of chunks(latest)) {
        const rows = chunk.map((r) => ({
          id: r.jobId,
          type: r.jobType,
          resource_type: r.resourceType,
          resource_id: r.resourceId,
          owner_id: r.ownerId,
          status: r.status,
          attempt: r.attempt,
          max_attempts: r.maxAttempts,
          error: r.error,
          detail: r.detail,
          trigger: triggerOf(r.jobId, r.scheduleId),
          schedule_id: r.scheduleId || null,
          schedule_run_id: r.scheduleRunId || null,
          started_ms: r.startedAtMs,
          finished_ms: r.finishedAtMs,
          next_ms: r.nextAttemptAtMs,
        }));
        const result = await exec<{ id: string }[]>(
          `insert into ${T} as j (id, type, resource_type, resource_id, owner_id, status, attempts, max_attempts, last_error, detail, trigger,
               schedule_id, schedule_run_id, created_at, started_at, finished_at, updated_at, next_attempt_at)
           select x.id, x.type, x.resource_type, x.resource_id, x.owner_id, x.status, x.attempt, x.max_attempts, x.error, x.detail, x.trigger,
               x.schedule_id, x.schedule_run_id, coalesce(${ts('x.started_ms')}, now()), ${ts('x.started_ms')},
               case when x.status in ${FINISHED} then coalesce(${ts('x.finished_ms')}, now()) end, now(),
               case when x.status = 'retrying' then ${ts('x.next_ms')} end
             from jsonb_to_recordset(?::jsonb) as x(id text, type text, resource_type text, resource_id text, owner_id text, status text,
               attempt int, max_attempts int, error text, detail text, trigger text, schedule_id text, schedule_run_id text,
               started_ms bigint, finished_ms bigint, next_ms bigint)
            order by x.id
           on conflict (id) do update set
             status = excluded.status,
             attempts = excluded.attempts,
             max_attempts = greatest(j.max_attempts, excluded.max_attempts),
             last_error = case when excluded.last_error <> '' then excluded.last_error else j.last_error end,
             detail = case when excluded.detail <> '' then excluded.detail else j.detail end,
             started_at = least(j.started_at, excluded.started_at),
             finished_at = excluded.finished_at,
             next_attempt_at = excluded.next_attempt_at,
             schedule_id = coalesce(j.schedule_id, excluded.schedule_id),
             schedule_run_id = coalesce(j.schedule_run_id, excluded.schedule_run_id),
             updated_at = now()
           where j.status not in ${FINISHED}
             and (excluded.attempts > j.attempts or (excluded.attempts = j.attempts and ${rank('excluded.status')} > ${rank('j.status')}))
           returning j.id`,
          [JSON.stringify(rows)],
        );
        changed += result.length;
      }
      return changed;
    },

    /** Records by id (absent ids are missing from the map). */
    async get(ids: readonly string[]): Promise<Map<string, JobRecord>> {
      const found = new Map<string, JobRecord>();
      for (const chunk of chunks([...new Set(ids)])) {
        for (const job of await em.find(JobSchema, { id: { $in: chunk } })) found.set(job.id, job);
      }
      return found;
    },

    async findOne(id: string): Promise<JobRecord | null> {
      return em.findOne(JobSchema, { id });
    },

    /** Newest first. */
    async list(filter: JobFilter): Promise<{ items: JobRecord[]; total: number }> {
      const where: Record<string, unknown> = {};
      if (filter.ownerId !== undefined) where.ownerId = filter.ownerId;
      if (filter.type) where.type = filter.type;
      if (filter.status) where.status = filter.status;
      if (filter.resourceId) where.resourceId = filter.resourceId;
      if (filter.since || filter.until) where.createdAt = { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lt: filter.until } : {}) };
      const [items, total] = await em.findAndCount(JobSchema, where, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: filter.limit, offset: filter.offset });
      return { items, total };
    },
  };
}

export type JobRepository = ReturnType<typeof createJobRepository>;

