import { Migration } from '@mikro-orm/migrations';

/**
 * The tool registry (`tools.tools`, immutable history in `tools.tool_versions`)
 * and executions (`tools.executions`). A replica claims an execution with a
 * conditional update (queued → running, runner_id, lease_until), renews the
 * lease while it runs, and any replica fails a running execution whose lease
 * expired (RUNNER_LOST).
 */
export class Migration20261204000000Tools extends Migration {
  override up(): void {
    this.addSql(`create table "tools"."tools" (
      "id" uuid primary key,
      "owner_id" text not null,
      "owner_name" text not null,
      "owner_roles" text[] not null default '{}',
      "name" text not null check (length("name") between 1 and 200),
      "description" text not null default '' check (length("description") <= 4000),
      "tool_type" text not null check ("tool_type" in ('python_script', 'shell_command', 'api_call', 'sql_query')),
      "config" jsonb not null,
      "input_schema" jsonb not null,
      "timeout_s" integer not null check ("timeout_s" > 0),
      "max_output_bytes" bigint not null check ("max_output_bytes" > 0),
      "network" boolean not null default false,
      "secrets" jsonb not null default '[]',
      "is_public" boolean not null default false,
      "shared_with_roles" text[] not null default '{}',
      "version" integer not null default 1 check ("version" >= 1),
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "deleted_at" timestamptz null
    )`);
    this.addSql('create unique index "tools_owner_name_unique" on "tools"."tools" ("owner_id", lower("name")) where "deleted_at" is null');
    this.addSql('create index "tools_owner_created_idx" on "tools"."tools" ("owner_id", "created_at" desc) where "deleted_at" is null');
    this.addSql('create index "tools_public_created_idx" on "tools"."tools" ("created_at" desc) where "is_public" and "deleted_at" is null');
    this.addSql('create index "tools_shared_roles_idx" on "tools"."tools" using gin ("shared_with_roles") where "deleted_at" is null');

    this.addSql(`create table "tools"."tool_versions" (
      "tool_id" uuid not null references "tools"."tools" ("id") on delete cascade,
      "version" integer not null,
      "definition" jsonb not null,
      "created_by" text not null,
      "created_at" timestamptz not null default now(),
      primary key ("tool_id", "version")
    )`);

    this.addSql(`create table "tools"."executions" (
      "id" uuid primary key,
      "tool_id" uuid not null references "tools"."tools" ("id"),
      "tool_version" integer not null,
      "owner_id" text not null,
      "status" text not null check ("status" in ('queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled')),
      "input" jsonb not null,
      "output" jsonb null,
      "stderr" text not null default '',
      "error" jsonb null,
      "truncated" boolean not null default false,
      "exit_code" integer null,
      "warnings" text[] not null default '{}',
      "runner_id" text null,
      "lease_until" timestamptz null,
      "cancel_requested" boolean not null default false,
      "created_at" timestamptz not null default now(),
      "started_at" timestamptz null,
      "completed_at" timestamptz null,
      "duration_ms" bigint null,
      foreign key ("tool_id", "tool_version") references "tools"."tool_versions" ("tool_id", "version")
    )`);
    // A tool's executions, newest first (ListExecutions, stats).
    this.addSql('create index "executions_tool_created_idx" on "tools"."executions" ("tool_id", "created_at" desc)');
    // The per-user limit counts executions in flight.
    this.addSql(`create index "executions_owner_active_idx" on "tools"."executions" ("owner_id") where "status" in ('queued', 'running')`);
    // The sweeper (expired leases) and each replica's cancel watch.
    this.addSql(`create index "executions_running_idx" on "tools"."executions" ("lease_until") where "status" = 'running'`);
    this.addSql(`create index "executions_runner_idx" on "tools"."executions" ("runner_id") where "status" = 'running'`);
  }

  override down(): void {
    this.addSql('drop table if exists "tools"."executions"');
    this.addSql('drop table if exists "tools"."tool_versions"');
    this.addSql('drop table if exists "tools"."tools"');
  }
}
