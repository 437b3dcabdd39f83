import { Migration } from '@mikro-orm/migrations';

/**
 * A reindex the scheduler started: its idempotency key (a repeat answers the
 * version it started), the schedule and run it reports JobResults for, and
 * when its parse started (the JobResult's started_at).
 */
export class Migration20261213000000ScheduledReindex extends Migration {
  override up(): void {
    this.addSql(`alter table "ingest"."versions"
      add column "idempotency_key" text,
      add column "schedule_id" text,
      add column "schedule_run_id" text,
      add column "started_at" timestamptz`);
    this.addSql('create unique index "versions_idempotency_key" on "ingest"."versions" ("document_id", "idempotency_key") where "idempotency_key" is not null');
  }

  override down(): void {
    this.addSql('drop index "ingest"."versions_idempotency_key"');
    this.addSql('alter table "ingest"."versions" drop column "idempotency_key", drop column "schedule_id", drop column "schedule_run_id", drop column "started_at"');
  }
}
