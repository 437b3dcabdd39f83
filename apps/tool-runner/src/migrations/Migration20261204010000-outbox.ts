import { Migration } from '@mikro-orm/migrations';

/**
 * The tool-runner's transactional outbox (service kit `enqueueOutbox` / relay):
 * audit records and ExecuteToolJobs commit with the change they describe and
 * are relayed to JetStream in id order. `event_id` is the Nats-Msg-Id: a UUID
 * for audit records, `execute:<execution id>` for jobs (so it is text).
 */
export class Migration20261204010000Outbox extends Migration {
  override up(): void {
    this.addSql(`create table "tools"."outbox" (
      "id" bigint generated always as identity primary key,
      "event_id" text not null unique,
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
    this.addSql('create index "outbox_unsent" on "tools"."outbox" ("id") where "sent_at" is null');
    this.addSql('create index "outbox_sent_at" on "tools"."outbox" ("sent_at") where "sent_at" is not null');
  }

  override down(): void {
    this.addSql('drop table "tools"."outbox"');
  }
}
