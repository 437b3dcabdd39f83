import { randomUUID } from 'node:crypto';
import { hasPermission, requireScoped, type Principal } from '@csda/auth';
import { NotFoundError, ValidationError } from '@csda/errors';
import type { AuditOutbox } from '@csda/service-kit';
import { checkCron, checkTimeZone, nextRunAfter } from './cron.ts';
import type { ScheduleChanges, ScheduleRecord, ScheduleRepository, Visibility } from './schedule.repository.ts';
import { MISFIRE_POLICIES, OVERLAP_POLICIES, type MisfirePolicy, type OverlapPolicy } from './slots.ts';
import { authorizeTarget, TARGET_TYPES, targetFromProto, type Owner, type Target, type TargetDeps } from './targets.ts';
import type { ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';

export interface ScheduleServiceDeps {
  /** A repository on a fresh EntityManager fork (one per call). */
  readonly repository: () => ScheduleRepository;
  readonly targets: Pick<TargetDeps, 'vault' | 'toolRunner' | 'documents' | 'asUser'>;
  /** Schedule creations, changes and deletions are recorded here (the scheduler's audit outbox). */
  readonly audit?: Pick<AuditOutbox, 'record'>;
  readonly clock?: () => Date;
}

export interface CreateScheduleInput {
  readonly name: string;
  readonly description: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly target: ScheduleTarget | undefined;
  readonly enabled: boolean;
  readonly misfirePolicy: string;
  readonly overlapPolicy: string;
}

export interface UpdateScheduleInput {
  readonly name?: string;
  readonly description?: string;
  readonly cron?: string;
  readonly timeZone?: string;
  readonly target?: ScheduleTarget;
  readonly enabled?: boolean;
  readonly misfirePolicy?: string;
  readonly overlapPolicy?: string;
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 200 || CONTROL.test(trimmed)) throw new ValidationError('Invalid schedule name', { name: '1 to 200 printable characters' });
  return trimmed;
}

function checkDescription(description: string): string {
  if (description.length > 2_000) throw new ValidationError('Description is too long', { description: 'at most 2000 characters' });
  return description;
}

function checkChoice<T extends string>(field: string, value: string, choices: readonly T[], fallback?: T): T {
  if (value === '' && fallback) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new ValidationError(`Invalid ${field}`, { [field]: choices.join(' or ') });
  return value as T;
}

export function checkPaging(limit: number, offset: number): { limit: number; offset: number } {
  return { limit: limit <= 0 ? 50 : Math.min(limit, 200), offset: Math.max(0, offset) };
}

/** Schedule ids are UUIDs; anything else cannot exist (NOT_FOUND, like any unknown id). */
function checkId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('schedule', id.slice(0, 64));
  return id.toLowerCase();
}

/**
 * Runs every check and throws one ValidationError naming every bad field, so
 * a client fixes its request in one round trip.
 */
function validateAll<T extends Record<string, () => unknown>>(checks: T): { [K in keyof T]: ReturnType<T[K]> } {
  const out: Record<string, unknown> = {};
  const details: Record<string, string> = {};
  for (const [key, check] of Object.entries(checks)) {
    try {
      out[key] = check();
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      Object.assign(details, err.details);
    }
  }
  const fields = Object.keys(details);
  if (fields.length > 0) throw new ValidationError(fields.length === 1 ? 'Invalid schedule' : `Invalid schedule: ${fields.join(', ')}`, details);
  return out as { [K in keyof T]: ReturnType<T[K]> };
}

/** The first slot after `now`; a schedule that can no longer fire is refused (e.g. a zone change makes no difference, but say so). */
function firstSlot(cron: string, zone: string, now: Date): Date {
  const next = nextRunAfter(cron, zone, now);
  if (!next) throw new ValidationError('Invalid cron expression', { cron: 'never fires (no such date)' });
  return next;
}

const visibilityOf = (p: Principal): Visibility => ({ userId: p.id, all: hasPermission(p, 'system:read') });
const ownerOf = (p: Principal): Owner => ({ id: p.id, name: p.name, roles: p.roles, permissions: p.permissions });

/**
 * User schedules: validation, ownership and `next_run_at`; no transport and
 * no SQL. Owners see and change their own; system:read sees all. "Not found"
 * and "not yours" are the same answer.
 */
export function createScheduleService(deps: ScheduleServiceDeps) {
  const clock = deps.clock ?? (() => new Date());
  const audit = (principal: Principal, action: string, id: string, details: Record<string, string> = {}) =>
    deps.audit?.record({ action, actor: principal.id, actorName: principal.name, resourceType: 'schedule', resourceId: id, details });

  const visible = async (principal: Principal, id: string): Promise<ScheduleRecord> => {
    const schedule = await deps.repository().findVisible(checkId(id), visibilityOf(principal));
    if (!schedule) throw new NotFoundError('schedule', id);
    return schedule;
  };

  return {
    async create(principal: Principal, input: CreateScheduleInput): Promise<ScheduleRecord> {
      requireScoped(principal, 'schedules:write');
      const v = validateAll({
        name: () => checkName(input.name),
        description: () => checkDescription(input.description),
        cron: () => checkCron(input.cron),
        timeZone: () => checkTimeZone(input.timeZone),
        target: () => targetFromProto(input.target),
        misfirePolicy: () => checkChoice<MisfirePolicy>('misfire_policy', input.misfirePolicy, MISFIRE_POLICIES, 'skip'),
        overlapPolicy: () => checkChoice<OverlapPolicy>('overlap_policy', input.overlapPolicy, OVERLAP_POLICIES, 'forbid'),
      });
      await authorizeTarget(deps.targets as TargetDeps, ownerOf(principal), v.target as Target);
      const now = clock();
      const id = randomUUID();
      const repo = deps.repository();
      await repo.insert({
        id,
        ownerId: principal.id,
        ownerName: principal.name,
        name: v.name,
        description: v.description,
        cron: v.cron,
        timeZone: v.timeZone,
        target: v.target as Target,
        enabled: input.enabled,
        misfirePolicy: v.misfirePolicy,
        overlapPolicy: v.overlapPolicy,
        nextRunAt: input.enabled ? firstSlot(v.cron, v.timeZone, now) : null,
        now,
      });
      await audit(principal, 'schedule_created', id, { target_type: (v.target as Target).type, cron: v.cron, time_zone: v.timeZone, enabled: String(input.enabled) });
      return (await repo.findVisible(id, visibilityOf(principal)))!;
    },

    async list(principal: Principal, filter: { limit: number; offset: number; enabled: string; targetType: string }) {
      requireScoped(principal, 'schedules:read');
      const v = validateAll({
        enabled: () => {
          if (filter.enabled === '') return undefined;
          if (filter.enabled === 'true' || filter.enabled === 'false') return filter.enabled === 'true';
          throw new ValidationError('Invalid filter', { enabled: 'true or false' });
        },
        targetType: () => (filter.targetType === '' ? undefined : checkChoice('target_type', filter.targetType, TARGET_TYPES)),
      });
      const paging = checkPaging(filter.limit, filter.offset);
      return deps.repository().list(visibilityOf(principal), { enabled: v.enabled, targetType: v.targetType, ...paging });
    },

    async get(principal: Principal, id: string): Promise<ScheduleRecord> {
      requireScoped(principal, 'schedules:read');
      return visible(principal, id);
    },

    async update(principal: Principal, id: string, input: UpdateScheduleInput): Promise<ScheduleRecord> {
      requireScoped(principal, 'schedules:write');
      const scheduleId = checkId(id);
      const v = validateAll({
        name: () => (input.name === undefined ? undefined : checkName(input.name)),
        description: () => (input.description === undefined ? undefined : checkDescription(input.description)),
        cron: () => (input.cron === undefined ? undefined : checkCron(input.cron)),
        timeZone: () => (input.timeZone === undefined ? undefined : checkTimeZone(input.timeZone)),
        target: () => (input.target === undefined ? undefined : targetFromProto(input.target)),
        misfirePolicy: () => (input.misfirePolicy === undefined ? undefined : checkChoice<MisfirePolicy>('misfire_policy', input.misfirePolicy, MISFIRE_POLICIES)),
        overlapPolicy: () => (input.overlapPolicy === undefined ? undefined : checkChoice<OverlapPolicy>('overlap_policy', input.overlapPolicy, OVERLAP_POLICIES)),
      });
      // Only the owner changes a schedule: system:read sees others' but may not touch them.
      const own: Visibility = { userId: principal.id, all: false };
      if (!(await deps.repository().findVisible(scheduleId, own))) throw new NotFoundError('schedule', id);
      if (v.target) await authorizeTarget(deps.targets as TargetDeps, ownerOf(principal), v.target);
      const repo = deps.repository();
      await repo.transaction(async (tx) => {
        // Waits for a claim in progress, so the loop never advances a slot computed from the old expression.
        const current = await tx.findVisible(scheduleId, own, true);
        if (!current) throw new NotFoundError('schedule', id);
        const cron = v.cron ?? current.cron;
        const timeZone = v.timeZone ?? current.timeZone;
        const enabled = input.enabled ?? current.enabled;
        const changes: ScheduleChanges = { ...v, enabled };
        const timing = cron !== current.cron || timeZone !== current.timeZone || enabled !== current.enabled || current.pausedReason !== '';
        if (timing) {
          // The caller is the owner, evidently active: a pause for an inactive owner ends here.
          changes.pausedReason = null;
          changes.nextRunAt = enabled ? firstSlot(cron, timeZone, clock()) : null;
        }
        await tx.update(scheduleId, changes, clock());
      });
      const fields = Object.entries({ ...v, enabled: input.enabled }).filter(([, value]) => value !== undefined).map(([k]) => k).sort().join(',');
      await audit(principal, 'schedule_updated', scheduleId, { fields });
      return (await repo.findVisible(scheduleId, own))!;
    },

    async remove(principal: Principal, id: string): Promise<void> {
      requireScoped(principal, 'schedules:write');
      const scheduleId = checkId(id);
      const repo = deps.repository();
      await repo.transaction(async (tx) => {
        if (!(await tx.findVisible(scheduleId, { userId: principal.id, all: false }, true))) throw new NotFoundError('schedule', id);
        await tx.softDelete(scheduleId, clock());
      });
      await audit(principal, 'schedule_deleted', scheduleId);
    },

    async runs(principal: Principal, scheduleId: string, paging: { limit: number; offset: number }) {
      requireScoped(principal, 'schedules:read');
      const schedule = await visible(principal, scheduleId);
      return deps.repository().listRuns(schedule.id, checkPaging(paging.limit, paging.offset));
    },
  };
}

export type ScheduleService = ReturnType<typeof createScheduleService>;
