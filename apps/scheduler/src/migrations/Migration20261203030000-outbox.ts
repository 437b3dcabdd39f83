import { Migration } from '@mikro-orm/migrations';

/**
 * The scheduler's transactional outbox (service kit `enqueueOutbox` / relay):
 * audit records (alert webhooks, schedules, permission denials) commit with the change they describe and are relayed to
 * JetStream in id order; `sent_at` marks published rows, purged later.
 */
export class Migration20261203030000Outbox extends Migration {
  override up(): void {
    this.addSql(`create table "scheduler"."outbox" (
      "id" bigint generated always as identity primary key,
      "event_id" uuid not null unique,
      "subject" text not null,
      "event_type" text not null,
      "payload" bytea not null,
      "aggregate" text,
      "trace_headers" jsonb not null default '{}',
      "created_at" timestamptz not null default now(),
      "attempts" integer not null default 0,
      "last_error" text,
      "sent_at" timestamptz
    )`);
    this.addSql('create index "outbox_unsent" on "scheduler"."outbox" ("id") where "sent_at" is null');
    this.addSql('create index "outbox_sent_at" on "scheduler"."outbox" ("sent_at") where "sent_at" is not null');
  }

  override down(): void {
    this.addSql('drop table "scheduler"."outbox"');
  }
}
