import { randomUUID } from 'node:crypto';
import type { CallOptions, Client } from '@connectrpc/connect';
import type { GatewayService, UserStatus } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ServiceRuntime } from '@csda/service-kit';
import { nextRunAfter } from './cron.ts';
import { createScheduleRepository, type DueCursor, type ScheduleQueries, type ScheduleRecord } from './schedule.repository.ts';
import type { ScheduleMetrics } from './schedule-metrics.ts';
import { planDueSlot } from './slots.ts';
import { fireTarget, targetRunning, TargetUnavailableError, type FireOutcome, type Owner, type TargetDeps } from './targets.ts';

/** Job statuses after which a job changes no more (jobs/job.entity.ts FINISHED_STATUSES). */
const FINISHED_JOB_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'dead']);

export interface ScheduleLoopDeps extends TargetDeps {
  /** A fresh EntityManager (fork) per tick. */
  readonly em: () => EntityManager;
  readonly logger: ServiceRuntime['logger'];
  /** GatewayService.GetUsers, called as the scheduler: owners' is_active, roles and permissions now. */
  readonly gateway: Pick<Client<typeof GatewayService>, 'getUsers'>;
  readonly asScheduler: (audience: 'gateway') => Promise<CallOptions>;
  /** How often the loop looks for due schedules; default 5 s. */
  readonly intervalMs?: number;
  /** A slot at most this late runs as on time; older ones are misfires (see planDueSlot); default 60 s. */
  readonly graceMs?: number;
  /** Schedules claimed per batch; default 50. */
  readonly batchSize?: number;
  /** Schedules fired at once (each its own transaction and connection); default 8. */
  readonly concurrency?: number;
  /** How often schedules paused for an inactive owner are re-checked; default 60 s. */
  readonly resumeCheckMs?: number;
  readonly clock?: () => Date;
  /** createScheduleMetrics(runtime.metrics.registry), for startScheduleLoop's ticks. */
  readonly metrics?: Pick<ScheduleMetrics, 'measure'>;
}

export interface TickResult {
  /** Runs that started a job. */
  fired: number;
  /** Runs recorded as skipped (overlap) or failed (owner lost the right, target gone). */
  recorded: number;
  /** Due slots passed over as missed (misfire policy skip). */
  missed: number;
  paused: number;
  resumed: number;
}

type Outcome = 'fired' | 'recorded' | 'missed' | 'paused' | 'taken';

/** A slot whose target did not answer: retried (same slot, whatever the misfire policy) until `since` + graceMs. */
interface PendingRetry {
  readonly dueAt: number;
  readonly slot: number;
  readonly catchUp: boolean;
  readonly since: number;
}

/**
 * The firing of user schedules, one tick at a time. Each due schedule is
 * claimed in its own transaction with `FOR UPDATE SKIP LOCKED`; that
 * transaction inserts the slot's run (unique per schedule and slot), records
 * and publishes its job (Nats-Msg-Id `schedule:<id>:<slot ms>`), and advances
 * `next_run_at` — so any number of replicas fire each slot once, and a crash
 * before the commit leaves the slot due for the next tick (the job's message
 * id de-duplicates a repeated publish). A run_tool target instead asks the
 * tool-runner for an execution in that transaction and records its id; that
 * call has no idempotency key, so a commit that fails after it leaves one
 * extra execution when the slot is retried. A target whose service does not
 * answer (the vault or the tool-runner restarting) keeps its slot and is
 * retried every tick for `graceMs`, then the run is recorded as failed: a
 * brief outage neither loses the slot nor counts as a misfire.
 */
export function createScheduleFiring(deps: ScheduleLoopDeps) {
  const clock = deps.clock ?? (() => new Date());
  const graceMs = deps.graceMs ?? 60_000;
  const batchSize = deps.batchSize ?? 50;
  const resumeCheckMs = deps.resumeCheckMs ?? 60_000;
  const concurrency = deps.concurrency ?? 8;
  let lastResumeCheck = Number.NEGATIVE_INFINITY;
  let pausedCursor: string | undefined;
  // Per replica: another replica retrying the same slot keeps its own window; the first to give up records the failure.
  const retrying = new Map<string, PendingRetry>();

  async function owners(ids: readonly string[]): Promise<Map<string, UserStatus>> {
    const unique = [...new Set(ids)];
    const { users } = await deps.gateway.getUsers({ ids: unique }, await deps.asScheduler('gateway'));
    return new Map(users.map((u) => [u.id, u]));
  }

  const ownerOf = (u: UserStatus): Owner => ({ id: u.id, name: u.username, roles: u.roles, permissions: u.permissions });

  async function recordRun(tx: ScheduleQueries, s: ScheduleRecord, slot: Date, now: Date, status: 'skipped' | 'failed', detail: string): Promise<boolean> {
    return tx.insertRun({ id: randomUUID(), scheduleId: s.id, scheduledFor: slot, firedAt: now, status, detail });
  }

  async function fireOne(id: string, users: Map<string, UserStatus>, now: Date): Promise<Outcome> {
    const repo = createScheduleRepository(deps.em());
    return repo.transaction(async (tx, txEm) => {
      const s = await tx.claimDue(id, now);
      if (!s || !s.nextRunAt) return 'taken';
      const log = deps.logger.child({ schedule_id: s.id, owner_id: s.ownerId });
      const user = users.get(s.ownerId);
      if (!user?.isActive) {
        await tx.update(s.id, { pausedReason: 'owner_inactive', nextRunAt: null }, now);
        log.info('schedule paused: its owner is inactive');
        return 'paused';
      }
      let plan = planDueSlot({ cron: s.cron, timeZone: s.timeZone, misfirePolicy: s.misfirePolicy, dueAt: s.nextRunAt }, now, graceMs);
      const pending = retrying.get(s.id);
      if (pending && pending.dueAt === s.nextRunAt.getTime()) plan = { fire: { scheduledFor: new Date(pending.slot), catchUp: pending.catchUp }, next: plan.next };
      else retrying.delete(s.id);
      const advance = { nextRunAt: plan.next, pausedReason: null };
      if (!plan.fire) {
        await tx.update(s.id, advance, now);
        log.info({ missed_from: s.nextRunAt.toISOString(), next_run_at: plan.next?.toISOString() }, 'missed slots skipped (misfire policy skip)');
        return 'missed';
      }
      const slot = plan.fire.scheduledFor;
      const owner = ownerOf(user);
      const finish = async (status: string, outcome: Outcome) => {
        await tx.update(s.id, { ...advance, lastRunAt: slot, lastRunStatus: status }, now);
        log.info({ scheduled_for: slot.toISOString(), status }, 'schedule run recorded');
        return outcome;
      };

      const dueAt = s.nextRunAt.getTime();
      const catchUp = plan.fire.catchUp;
      /** A target's service did not answer: rethrown (rolling the claim back, the slot stays due) until graceMs has passed, then what to record. */
      const retryOrGiveUp = (err: unknown, what: string): string => {
        if (!(err instanceof TargetUnavailableError)) throw err;
        const since = pending?.dueAt === dueAt ? pending.since : now.getTime();
        if (now.getTime() - since < graceMs) {
          retrying.set(s.id, { dueAt, slot: slot.getTime(), catchUp, since });
          throw err;
        }
        retrying.delete(s.id);
        return `${what}: ${err.message}; retried for ${Math.round((now.getTime() - since) / 1000)} s`;
      };

      if (!owner.permissions.includes('schedules:write')) {
        const inserted = await recordRun(tx, s, slot, now, 'failed', 'the owner no longer holds schedules:write');
        return inserted ? finish('failed', 'recorded') : finish(s.lastRunStatus, 'taken');
      }
      if (s.overlapPolicy === 'forbid') {
        const last = await tx.lastJob(s.id);
        let busy: string | undefined;
        try {
          // A job of the scheduler's own says its status; other work (a tool execution) is asked of its target.
          if (last?.status === '') busy = await targetRunning(deps, owner, s.target, last.jobId);
          else if (last && !FINISHED_JOB_STATUSES.has(last.status)) busy = `job ${last.jobId} is ${last.status}`;
        } catch (err) {
          const inserted = await recordRun(tx, s, slot, now, 'failed', retryOrGiveUp(err, 'could not check the previous run'));
          return inserted ? finish('failed', 'recorded') : finish(s.lastRunStatus, 'taken');
        }
        if (busy) {
          retrying.delete(s.id);
          const inserted = await recordRun(tx, s, slot, now, 'skipped', `previous run still running (${busy})`);
          return inserted ? finish('skipped', 'recorded') : finish(s.lastRunStatus, 'taken');
        }
      }
      const runId = randomUUID();
      const detail = catchUp ? 'catch-up run for missed slots' : '';
      if (!(await tx.insertRun({ id: runId, scheduleId: s.id, scheduledFor: slot, firedAt: now, status: 'queued', detail }))) {
        return finish(s.lastRunStatus, 'taken');
      }
      let outcome: FireOutcome;
      try {
        outcome = await fireTarget(deps, { scheduleId: s.id, runId, scheduledFor: slot, owner, em: txEm }, s.target);
        retrying.delete(s.id);
      } catch (err) {
        outcome = { status: 'failed', detail: retryOrGiveUp(err, 'could not start') };
      }
      if (outcome.status === 'queued') {
        await tx.completeRun(runId, { status: 'queued', jobId: outcome.jobId, detail: [detail, outcome.detail].filter(Boolean).join('; '), at: now });
        return finish('queued', 'fired');
      }
      await tx.completeRun(runId, { status: 'failed', detail: outcome.detail, at: now });
      return finish('failed', 'recorded');
    });
  }

  /** Schedules paused for an inactive owner resume, from the next future slot, once the owner is active again. */
  async function resumePaused(now: Date, result: TickResult): Promise<void> {
    const repo = createScheduleRepository(deps.em());
    const paused = await repo.pausedCandidates(batchSize, pausedCursor);
    // Round robin over every paused schedule, batchSize per check, without touching the rows.
    pausedCursor = paused.length < batchSize ? undefined : paused.at(-1)?.id;
    if (paused.length === 0) return;
    const users = await owners(paused.map((p) => p.ownerId));
    for (const candidate of paused) {
      await repo.transaction(async (tx) => {
        const s = await tx.claimPaused(candidate.id);
        if (!s) return;
        if (users.get(s.ownerId)?.isActive) {
          await tx.update(s.id, { pausedReason: null, nextRunAt: nextRunAfter(s.cron, s.timeZone, now) }, now);
          deps.logger.info({ schedule_id: s.id, owner_id: s.ownerId }, 'schedule resumed: its owner is active again');
          result.resumed++;
        }
      });
    }
  }

  return {
    /** One pass: resume paused schedules (every resumeCheckMs), then claim and fire every due schedule. */
    async tick(): Promise<TickResult> {
      const now = clock();
      const result: TickResult = { fired: 0, recorded: 0, missed: 0, paused: 0, resumed: 0 };
      if (now.getTime() - lastResumeCheck >= resumeCheckMs) {
        lastResumeCheck = now.getTime();
        // A failed check (gateway down) must not hold back the due schedules; it is retried next time.
        await resumePaused(now, result).catch((err: unknown) => deps.logger.warn({ err }, 'resume check of paused schedules failed'));
      }
      // One pass in (next_run_at, id) order: a schedule that failed, or that another replica holds, waits for the next tick.
      let cursor: DueCursor | undefined;
      for (;;) {
        const candidates = await createScheduleRepository(deps.em()).dueCandidates(now, batchSize, cursor);
        if (candidates.length === 0) break;
        cursor = candidates.at(-1);
        const users = await owners(candidates.map((c) => c.ownerId));
        await eachLimited(candidates, concurrency, async (candidate) => {
          // One schedule's failure (its target unavailable, a database error) leaves the others to fire.
          const outcome = await fireOne(candidate.id, users, now).catch((err: unknown) => {
            deps.logger.warn({ err, schedule_id: candidate.id }, 'schedule not fired this tick; retrying on the next');
            return 'taken' as const;
          });
          if (outcome !== 'taken') result[outcome]++;
        });
        if (candidates.length < batchSize) break;
      }
      return result;
    },
  };
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** Runs {@link createScheduleFiring}'s tick every `intervalMs` (never two at once); stop() waits for the tick in flight. */
export function startScheduleLoop(deps: ScheduleLoopDeps): { stop(): Promise<void> } {
  const firing = createScheduleFiring(deps);
  const intervalMs = deps.intervalMs ?? 5_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const run = () => {
    inFlight = (deps.metrics ? deps.metrics.measure(() => firing.tick()) : firing.tick())
      .then((r) => {
        if (r.fired + r.recorded + r.missed + r.paused + r.resumed > 0) deps.logger.debug({ ...r }, 'schedule tick');
      })
      .catch((err: unknown) => deps.logger.warn({ err }, 'schedule tick failed; retrying on the next one'))
      .finally(() => {
        if (!stopped) timer = setTimeout(run, intervalMs);
      });
  };
  timer = setTimeout(run, 0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
