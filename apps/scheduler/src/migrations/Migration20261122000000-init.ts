import { Migration } from '@mikro-orm/migrations';

/** Schema `scheduler` with the record of every one-shot job run. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('scheduler') is null then create schema "scheduler"; end if; end $$`);
    this.addSql(`comment on schema "scheduler" is 'Owned by the scheduler service: schedules and job runs.'`);
    this.addSql(`create table "scheduler"."job_runs" (
      "id" uuid primary key,
      "job" text not null,
      "status" text not null check ("status" in ('running', 'completed', 'failed')),
      "detail" text null,
      "started_at" timestamptz not null,
      "finished_at" timestamptz null
    )`);
    this.addSql('create index "job_runs_job_started_at_idx" on "scheduler"."job_runs" ("job", "started_at" desc)');
  }

  override down(): void {
    this.addSql('drop schema if exists "scheduler" cascade');
  }
}
