import { Migration } from '@mikro-orm/migrations';

/**
 * ExecuteTool's idempotency key (unique per owner: a repeat returns the
 * execution the first call started) and the schedule an execution was started
 * by (the scheduler acting for its owner): such executions report their
 * progress as JobResult events through the outbox.
 */
export class Migration20261206000000ExecutionIdempotency extends Migration {
  override up(): void {
    this.addSql(`alter table "tools"."executions"
      add column "idempotency_key" text check (length("idempotency_key") between 1 and 200),
      add column "schedule_id" text check (length("schedule_id") between 1 and 100),
      add column "schedule_run_id" text check (length("schedule_run_id") between 1 and 100)`);
    this.addSql('create unique index "executions_owner_idempotency_key_idx" on "tools"."executions" ("owner_id", "idempotency_key") where "idempotency_key" is not null');
  }

  override down(): void {
    this.addSql('drop index if exists "tools"."executions_owner_idempotency_key_idx"');
    this.addSql('alter table "tools"."executions" drop column "idempotency_key", drop column "schedule_id", drop column "schedule_run_id"');
  }
}
