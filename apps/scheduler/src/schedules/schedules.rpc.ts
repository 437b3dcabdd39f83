import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ScheduleRunSchema, ScheduleSchema, type Schedule, type ScheduleRun, type SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createScheduleRepository, type RunRecord, type ScheduleRecord } from './schedule.repository.ts';
import { createScheduleService, type ScheduleServiceDeps } from './schedule.service.ts';
import { targetToProto, type TargetDeps } from './targets.ts';

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);

export function scheduleToProto(s: ScheduleRecord): Schedule {
  return create(ScheduleSchema, {
    id: s.id,
    ownerId: s.ownerId,
    name: s.name,
    description: s.description,
    cron: s.cron,
    timeZone: s.timeZone,
    target: targetToProto(s.target),
    enabled: s.enabled,
    misfirePolicy: s.misfirePolicy,
    overlapPolicy: s.overlapPolicy,
    nextRunAtMs: ms(s.nextRunAt),
    lastRunAtMs: ms(s.lastRunAt),
    lastRunStatus: s.lastRunStatus,
    pausedReason: s.pausedReason,
    createdAtMs: ms(s.createdAt),
    updatedAtMs: ms(s.updatedAt),
  });
}

export function runToProto(r: RunRecord): ScheduleRun {
  return create(ScheduleRunSchema, {
    id: r.id,
    scheduleId: r.scheduleId,
    scheduledForMs: ms(r.scheduledFor),
    firedAtMs: ms(r.firedAt),
    status: r.status,
    jobId: r.jobId,
    detail: r.detail,
    finishedAtMs: ms(r.finishedAt),
  });
}

export interface SchedulesRpcDeps {
  /** A fresh EntityManager per call (e.g. `() => runtime.orm.em.fork()`). */
  readonly em: () => EntityManager;
  /** The vault, tool-runner and document-ingest clients and acting-for call options (clients.ts), to check a target as its owner. */
  readonly vault: TargetDeps['vault'];
  readonly toolRunner: TargetDeps['toolRunner'];
  readonly documents: TargetDeps['documents'];
  readonly asUser: TargetDeps['asUser'];
  readonly audit?: ScheduleServiceDeps['audit'];
  readonly clock?: () => Date;
}

/** SchedulerService's schedule RPCs: proto ↔ domain mapping only; the logic lives in the schedule service. */
export function createSchedulesRpc(
  deps: SchedulesRpcDeps,
): Pick<ServiceImpl<typeof SchedulerService>, 'createSchedule' | 'listSchedules' | 'getSchedule' | 'updateSchedule' | 'deleteSchedule' | 'listScheduleRuns'> {
  const service = createScheduleService({
    repository: () => createScheduleRepository(deps.em()),
    targets: { vault: deps.vault, toolRunner: deps.toolRunner, documents: deps.documents, asUser: deps.asUser },
    audit: deps.audit,
    clock: deps.clock,
  });
  return {
    async createSchedule(req, ctx) {
      const schedule = await service.create(principalFrom(ctx), {
        name: req.name,
        description: req.description,
        cron: req.cron,
        timeZone: req.timeZone,
        target: req.target,
        enabled: req.enabled,
        misfirePolicy: req.misfirePolicy,
        overlapPolicy: req.overlapPolicy,
      });
      return { schedule: scheduleToProto(schedule) };
    },
    async listSchedules(req, ctx) {
      const page = await service.list(principalFrom(ctx), { limit: req.limit, offset: req.offset, enabled: req.enabled, targetType: req.targetType });
      return { items: page.items.map(scheduleToProto), total: BigInt(page.total) };
    },
    async getSchedule(req, ctx) {
      return { schedule: scheduleToProto(await service.get(principalFrom(ctx), req.id)) };
    },
    async updateSchedule(req, ctx) {
      const schedule = await service.update(principalFrom(ctx), req.id, {
        name: req.name,
        description: req.description,
        cron: req.cron,
        timeZone: req.timeZone,
        target: req.target,
        enabled: req.enabled,
        misfirePolicy: req.misfirePolicy,
        overlapPolicy: req.overlapPolicy,
      });
      return { schedule: scheduleToProto(schedule) };
    },
    async deleteSchedule(req, ctx) {
      await service.remove(principalFrom(ctx), req.id);
      return {};
    },
    async listScheduleRuns(req, ctx) {
      const page = await service.runs(principalFrom(ctx), req.scheduleId, { limit: req.limit, offset: req.offset });
      return { items: page.items.map(runToProto), total: BigInt(page.total) };
    },
  };
}
