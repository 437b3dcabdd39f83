import { Migration } from '@mikro-orm/migrations';

/**
 * The search service's transactional outbox (service kit `enqueueOutbox` /
 * relay): DocumentIndexed events commit with the swap that makes a version
 * live, audit records with what they record, and are relayed to JetStream in
 * id order. `event_id` is the Nats-Msg-Id (`indexed:<document>:<version>`).
 */
export class Migration20261208010000Outbox extends Migration {
  override up(): void {
    this.addSql(`create table "search"."outbox" (
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
    this.addSql('create index "outbox_unsent" on "search"."outbox" ("id") where "sent_at" is null');
    this.addSql('create index "outbox_sent_at" on "search"."outbox" ("sent_at") where "sent_at" is not null');
  }

  override down(): void {
    this.addSql('drop table "search"."outbox"');
  }
}
