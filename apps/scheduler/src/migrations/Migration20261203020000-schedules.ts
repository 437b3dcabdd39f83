import { Migration } from '@mikro-orm/migrations';

/**
 * User schedules (`scheduler.schedules`) and their runs (`scheduler.schedule_runs`).
 * A slot fires once because the loop claims a due schedule with
 * `FOR UPDATE SKIP LOCKED` and, in the same transaction, inserts its run
 * (unique per schedule and slot) and advances `next_run_at`.
 */
export class Migration20261203020000Schedules extends Migration {
  override up(): void {
    this.addSql(`create table "scheduler"."schedules" (
      "id" uuid primary key,
      "owner_id" text not null,
      "owner_name" text not null,
      "name" text not null check (length("name") between 1 and 200),
      "description" text not null default '' check (length("description") <= 2000),
      "cron" text not null check (length("cron") between 1 and 200),
      "time_zone" text not null check (length("time_zone") between 1 and 100),
      "target_type" text not null check ("target_type" in ('rotate_secret')),
      "target" jsonb not null,
      "enabled" boolean not null default true,
      "misfire_policy" text not null default 'skip' check ("misfire_policy" in ('skip', 'run_once')),
      "overlap_policy" text not null default 'forbid' check ("overlap_policy" in ('forbid', 'allow')),
      "next_run_at" timestamptz null,
      "last_run_at" timestamptz null,
      "last_run_status" text null,
      "paused_reason" text null check ("paused_reason" in ('owner_inactive')),
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "deleted_at" timestamptz null
    )`);
    this.addSql('create unique index "schedules_owner_name_unique" on "scheduler"."schedules" ("owner_id", lower("name")) where "deleted_at" is null');
    // The loop's claim: due, enabled, live schedules by slot.
    this.addSql('create index "schedules_due_idx" on "scheduler"."schedules" ("next_run_at") where "enabled" and "deleted_at" is null');
    // The loop's resume check of schedules paused for their owner.
    this.addSql('create index "schedules_paused_idx" on "scheduler"."schedules" ("id") where "paused_reason" is not null and "enabled" and "deleted_at" is null');
    this.addSql('create index "schedules_owner_created_at_idx" on "scheduler"."schedules" ("owner_id", "created_at" desc) where "deleted_at" is null');
    this.addSql(`create table "scheduler"."schedule_runs" (
      "id" uuid primary key,
      "schedule_id" uuid not null references "scheduler"."schedules" ("id") on delete cascade,
      "scheduled_for" timestamptz not null,
      "fired_at" timestamptz not null,
      "status" text not null check ("status" in ('queued', 'skipped', 'failed')),
      "job_id" text null,
      "detail" text not null default '',
      "finished_at" timestamptz null,
      constraint "schedule_runs_slot_unique" unique ("schedule_id", "scheduled_for")
    )`);
    this.addSql('create index "schedule_runs_job_idx" on "scheduler"."schedule_runs" ("job_id") where "job_id" is not null');
  }

  override down(): void {
    this.addSql('drop table if exists "scheduler"."schedule_runs"');
    this.addSql('drop table if exists "scheduler"."schedules"');
  }
}
