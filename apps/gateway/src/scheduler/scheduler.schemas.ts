import type { Alert, AlertWebhook, Job, Schedule, ScheduleRun } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';
import { TARGET_TYPES, targetSchema, targetToJson } from './schedule-target.ts';

const isoOrNull = z.iso.datetime({ offset: true }).nullable();
const iso = z.iso.datetime({ offset: true });

/** Unix ms → ISO-8601; 0 (unset) → null. */
export const isoFromMs = (ms: bigint): string | null => (ms > 0n ? new Date(Number(ms)).toISOString() : null);
const isoAlways = (ms: bigint) => isoFromMs(ms) ?? new Date(0).toISOString();
const orNull = (s: string) => s || null;

export const MISFIRE_POLICIES = ['skip', 'run_once'] as const;
export const OVERLAP_POLICIES = ['forbid', 'allow'] as const;
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'retrying', 'failed', 'dead'] as const;
export const ALERT_KINDS = ['rotation_due', 'rotation_failed', 'secret_expiring', 'secret_expired'] as const;

/**
 * A job id as the scheduler makes them (`rotate:<secret id>:<due ms>`,
 * `schedule:<schedule id>:<slot ms>`): letters, digits and `:._-`, never a
 * slash, so it is one path segment (clients may percent-encode the colons).
 */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,199}$/;

const boolFilter = z.enum(['true', 'false']).optional();

// ---- schedules

export const scheduleSchema = z
  .object({
    id: z.string(),
    owner_id: z.string(),
    name: z.string(),
    description: z.string(),
    cron: z.string(),
    time_zone: z.string(),
    target: targetSchema.nullable(),
    enabled: z.boolean(),
    misfire_policy: z.string(),
    overlap_policy: z.string(),
    next_run_at: isoOrNull.meta({ description: 'Next slot; null when disabled or paused' }),
    last_run_at: isoOrNull,
    last_run_status: z.string().nullable(),
    paused_reason: z.string().nullable().meta({ description: 'Why an enabled schedule does not fire (owner_inactive), null when it does' }),
    created_at: iso,
    updated_at: iso,
  })
  .meta({ id: 'Schedule' });

const cron = z.string().trim().min(1).max(120).meta({ description: '5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly' });
const timeZone = z.string().min(1).max(64).meta({ description: 'IANA time zone, e.g. Europe/Berlin' });
const name = z.string().trim().min(1).max(200);
const description = z.string().max(2_000);

export const createScheduleBody = z
  .object({
    name,
    description: description.default(''),
    cron,
    time_zone: timeZone.default('UTC'),
    target: targetSchema,
    enabled: z.boolean().default(true),
    misfire_policy: z.enum(MISFIRE_POLICIES).default('skip').meta({ description: 'skip: slots missed while the scheduler was down are skipped; run_once: one catch-up run' }),
    overlap_policy: z.enum(OVERLAP_POLICIES).default('forbid').meta({ description: 'forbid: a slot is skipped while the previous run is unfinished; allow' }),
  })
  .strict();

export const updateScheduleBody = z
  .object({
    name,
    description,
    cron,
    time_zone: timeZone,
    target: targetSchema,
    enabled: z.boolean(),
    misfire_policy: z.enum(MISFIRE_POLICIES),
    overlap_policy: z.enum(OVERLAP_POLICIES),
  })
  .partial()
  .strict();

export const listSchedulesQuery = pageQuery.extend({ enabled: boolFilter, target_type: z.enum(TARGET_TYPES).optional() });

export function scheduleToJson(s: Schedule): z.infer<typeof scheduleSchema> {
  return {
    id: s.id,
    owner_id: s.ownerId,
    name: s.name,
    description: s.description,
    cron: s.cron,
    time_zone: s.timeZone,
    target: targetToJson(s.target),
    enabled: s.enabled,
    misfire_policy: s.misfirePolicy,
    overlap_policy: s.overlapPolicy,
    next_run_at: isoFromMs(s.nextRunAtMs),
    last_run_at: isoFromMs(s.lastRunAtMs),
    last_run_status: orNull(s.lastRunStatus),
    paused_reason: orNull(s.pausedReason),
    created_at: isoAlways(s.createdAtMs),
    updated_at: isoAlways(s.updatedAtMs),
  };
}

export const scheduleRunSchema = z
  .object({
    id: z.string(),
    schedule_id: z.string(),
    scheduled_for: isoOrNull,
    fired_at: isoOrNull,
    status: z.string().meta({ description: 'queued | running | succeeded | failed | skipped' }),
    job_id: z.string().nullable(),
    detail: z.string(),
    finished_at: isoOrNull,
  })
  .meta({ id: 'ScheduleRun' });

export function scheduleRunToJson(r: ScheduleRun): z.infer<typeof scheduleRunSchema> {
  return {
    id: r.id,
    schedule_id: r.scheduleId,
    scheduled_for: isoFromMs(r.scheduledForMs),
    fired_at: isoFromMs(r.firedAtMs),
    status: r.status,
    job_id: orNull(r.jobId),
    detail: r.detail,
    finished_at: isoFromMs(r.finishedAtMs),
  };
}

// ---- jobs

export const jobIdParams = z.object({ id: z.string().regex(JOB_ID_PATTERN, 'a job id such as rotate:<secret id>:<ms>') });

export const listJobsQuery = pageQuery
  .extend({
    type: z.string().regex(/^[a-z][a-z_]{0,63}$/).optional().meta({ description: 'e.g. rotate_secret' }),
    status: z.enum(JOB_STATUSES).optional(),
    resource_id: z.string().min(1).max(200).optional(),
    since: z.iso.datetime({ offset: true }).optional().meta({ description: 'created at or after (ISO-8601)' }),
    until: z.iso.datetime({ offset: true }).optional().meta({ description: 'created before (ISO-8601)' }),
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.since) < Date.parse(q.until), { message: 'must be after since', path: ['until'] });

export const jobSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    resource_type: z.string(),
    resource_id: z.string(),
    owner_id: z.string(),
    status: z.string().meta({ description: JOB_STATUSES.join(' | ') }),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    last_error: z.string().nullable(),
    detail: z.string(),
    trigger: z.string().meta({ description: 'due (the rotation pipeline) | schedule | manual' }),
    schedule_id: z.string().nullable(),
    created_at: iso,
    started_at: isoOrNull,
    finished_at: isoOrNull,
    updated_at: isoOrNull,
    next_attempt_at: isoOrNull.meta({ description: 'When a retrying job is tried again' }),
  })
  .meta({ id: 'Job' });

export function jobToJson(j: Job): z.infer<typeof jobSchema> {
  return {
    id: j.id,
    type: j.type,
    resource_type: j.resourceType,
    resource_id: j.resourceId,
    owner_id: j.ownerId,
    status: j.status,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    last_error: orNull(j.lastError),
    detail: j.detail,
    trigger: j.trigger,
    schedule_id: orNull(j.scheduleId),
    created_at: isoAlways(j.createdAtMs),
    started_at: isoFromMs(j.startedAtMs),
    finished_at: isoFromMs(j.finishedAtMs),
    updated_at: isoFromMs(j.updatedAtMs),
    next_attempt_at: isoFromMs(j.nextAttemptAtMs),
  };
}

// ---- alerts

export const listAlertsQuery = pageQuery.extend({ kind: z.enum(ALERT_KINDS).optional(), acknowledged: boolFilter });

export const alertSchema = z
  .object({
    id: z.string(),
    kind: z.string().meta({ description: ALERT_KINDS.join(' | ') }),
    severity: z.string().meta({ description: 'info | warning | critical' }),
    owner_id: z.string(),
    resource_type: z.string(),
    resource_id: z.string(),
    message: z.string(),
    created_at: iso,
    acknowledged: z.boolean(),
    acknowledged_at: isoOrNull,
    acknowledged_by: z.string().nullable(),
  })
  .meta({ id: 'Alert' });

export function alertToJson(a: Alert): z.infer<typeof alertSchema> {
  return {
    id: a.id,
    kind: a.kind,
    severity: a.severity,
    owner_id: a.ownerId,
    resource_type: a.resourceType,
    resource_id: a.resourceId,
    message: a.message,
    created_at: isoAlways(a.createdAtMs),
    acknowledged: a.acknowledgedAtMs > 0n,
    acknowledged_at: isoFromMs(a.acknowledgedAtMs),
    acknowledged_by: orNull(a.acknowledgedBy),
  };
}

export const createWebhookBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/ })
      .max(2_048)
      .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), { message: 'must not carry credentials' })
      .meta({ description: 'Receives alerts signed per Standard Webhooks; loopback, private, link-local and metadata addresses are refused unless the operator allow-lists them' }),
    kinds: z.array(z.enum(ALERT_KINDS)).max(ALERT_KINDS.length).default([]).refine((k) => new Set(k).size === k.length, { message: 'each kind once' }).meta({ description: 'Alert kinds delivered; empty = all' }),
    signing_secret_id: z.uuid().meta({ description: 'A vault secret you own holding the signing secret (whsec_…)' }),
    description: z.string().max(500).default(''),
  })
  .strict();

export const webhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    kinds: z.array(z.string()),
    signing_secret_id: z.string(),
    created_by: z.string(),
    created_at: iso,
    description: z.string(),
  })
  .meta({ id: 'AlertWebhook' });

export function webhookToJson(w: AlertWebhook): z.infer<typeof webhookSchema> {
  return {
    id: w.id,
    url: w.url,
    kinds: [...w.kinds],
    signing_secret_id: w.signingSecretId,
    created_by: w.createdBy,
    created_at: isoAlways(w.createdAtMs),
    description: w.description,
  };
}

/** `"true"`/`"false"`/absent query flag → the proto's "" | "true" | "false". */
export const flag = (value: 'true' | 'false' | undefined) => value ?? '';
/** ISO query time → Unix ms (0 = open). */
export const msOf = (value: string | undefined) => (value ? BigInt(Date.parse(value)) : 0n);
