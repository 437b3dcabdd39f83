import { Migration } from '@mikro-orm/migrations';

/**
 * document-ingest's transactional outbox (service kit relay): audit records,
 * document events, DocumentStageJobs and IndexChunksBatches commit with the
 * change they describe and are relayed to JetStream in id order. `event_id`
 * is the Nats-Msg-Id: a UUID for audit records, `stage:…`, `index:…`,
 * `access:…`, `deleted:…` for the rest (so it is text).
 */
export class Migration20261209010000Outbox extends Migration {
  override up(): void {
    this.addSql(`create table "ingest"."outbox" (
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
    this.addSql('create index "outbox_unsent" on "ingest"."outbox" ("id") where "sent_at" is null');
    this.addSql('create index "outbox_sent_at" on "ingest"."outbox" ("sent_at") where "sent_at" is not null');
  }

  override down(): void {
    this.addSql('drop table "ingest"."outbox"');
  }
}
