import { Migration } from '@mikro-orm/migrations';

/**
 * Background job records (`scheduler.jobs`): one row per job id (= the
 * Nats-Msg-Id of its message), written queued by the scheduler when it
 * enqueues and advanced by the workers' JobResult events. The row also keeps
 * the encoded message until it is published, so a publish that failed is
 * retried by the next sweep.
 */
export class Migration20261203000000Jobs extends Migration {
  override up(): void {
    this.addSql(`create table "scheduler"."jobs" (
      "id" text primary key check (length("id") between 1 and 300),
      "type" text not null,
      "resource_type" text not null,
      "resource_id" text not null,
      "owner_id" text not null,
      "status" text not null check ("status" in ('queued', 'running', 'succeeded', 'retrying', 'failed', 'dead')),
      "attempts" integer not null default 0 check ("attempts" >= 0),
      "max_attempts" integer not null default 0 check ("max_attempts" >= 0),
      "last_error" text not null default '',
      "detail" text not null default '',
      "trigger" text not null check ("trigger" in ('due', 'schedule', 'manual')),
      "schedule_id" text null,
      "schedule_run_id" text null,
      "payload" bytea null,
      "published_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "started_at" timestamptz null,
      "finished_at" timestamptz null,
      "updated_at" timestamptz not null default now(),
      "next_attempt_at" timestamptz null
    )`);
    // GET /jobs: newest first, by owner (own jobs) or all (admins), optionally by type / status / resource.
    this.addSql('create index "jobs_created_at_idx" on "scheduler"."jobs" ("created_at" desc, "id")');
    this.addSql('create index "jobs_owner_created_at_idx" on "scheduler"."jobs" ("owner_id", "created_at" desc)');
    this.addSql('create index "jobs_type_created_at_idx" on "scheduler"."jobs" ("type", "created_at" desc)');
    this.addSql('create index "jobs_status_created_at_idx" on "scheduler"."jobs" ("status", "created_at" desc)');
    this.addSql('create index "jobs_resource_idx" on "scheduler"."jobs" ("resource_id", "created_at" desc)');
    this.addSql('create index "jobs_schedule_idx" on "scheduler"."jobs" ("schedule_id") where "schedule_id" is not null');
    // The publish sweep: queued jobs (few: those in flight) whose message has not reached the stream or is older than a day.
    this.addSql('create index "jobs_queued_idx" on "scheduler"."jobs" ("created_at") where "status" = \'queued\'');
  }

  override down(): void {
    this.addSql('drop table if exists "scheduler"."jobs"');
  }
}
