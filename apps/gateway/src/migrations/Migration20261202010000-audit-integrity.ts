import { Migration } from '@mikro-orm/migrations';
import { CHAIN_GENESIS, chainHash } from '../audit/audit-chain.ts';

interface LegacyRow {
  id: string;
  event_id: string;
  subject: string;
  service: string;
  action: string;
  actor: string;
  resource_type: string | null;
  resource_id: string | null;
  event_type: string;
  payload: unknown;
  occurred_at: Date | string;
}

/**
 * Audit integrity: the gateway's outbox (identity changes and their audit
 * records commit together), a hash chain over `audit_log` (rows recorded
 * before this migration are chained in id order), and triggers that make
 * `audit_log` append-only (UPDATE, DELETE and TRUNCATE are refused).
 */
export class Migration20261202010000AuditIntegrity extends Migration {
  override async up(): Promise<void> {
    await this.execute(`create table "identity"."outbox" (
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
    await this.execute('create index "outbox_unsent" on "identity"."outbox" ("id") where "sent_at" is null');
    await this.execute('create index "outbox_sent_at" on "identity"."outbox" ("sent_at") where "sent_at" is not null');

    await this.execute('alter table "identity"."audit_log" add column "prev_hash" char(64), add column "hash" char(64)');
    let prev = CHAIN_GENESIS;
    let after = '0';
    for (;;) {
      const rows = (await this.execute(
        'select id::text as id, event_id, subject, service, action, actor, resource_type, resource_id, event_type, payload, occurred_at from "identity"."audit_log" where audit_log.id > ? order by audit_log.id limit 1000',
        [after],
      )) as unknown as LegacyRow[];
      if (rows.length === 0) break;
      for (const r of rows) {
        const hash = chainHash(prev, {
          eventId: r.event_id, subject: r.subject, service: r.service, action: r.action, actor: r.actor,
          resourceType: r.resource_type, resourceId: r.resource_id, eventType: r.event_type, payload: r.payload,
          occurredAt: new Date(r.occurred_at),
        });
        await this.execute('update "identity"."audit_log" set prev_hash = ?, hash = ? where id = ?', [prev, hash, r.id]);
        prev = hash;
        after = r.id;
      }
    }
    await this.execute('alter table "identity"."audit_log" alter column "prev_hash" set not null, alter column "hash" set not null');
    await this.execute(`create function "identity"."audit_log_append_only"() returns trigger language plpgsql as $$
      begin
        raise exception 'identity.audit_log is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
      end $$`);
    await this.execute(`create trigger "audit_log_no_update_delete" before update or delete on "identity"."audit_log"
      for each row execute function "identity"."audit_log_append_only"()`);
    await this.execute(`create trigger "audit_log_no_truncate" before truncate on "identity"."audit_log"
      for each statement execute function "identity"."audit_log_append_only"()`);
  }

  override async down(): Promise<void> {
    await this.execute('drop trigger "audit_log_no_truncate" on "identity"."audit_log"');
    await this.execute('drop trigger "audit_log_no_update_delete" on "identity"."audit_log"');
    await this.execute('drop function "identity"."audit_log_append_only"()');
    await this.execute('alter table "identity"."audit_log" drop column "prev_hash", drop column "hash"');
    await this.execute('drop table "identity"."outbox"');
  }
}
