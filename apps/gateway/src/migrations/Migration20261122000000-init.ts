import { Migration } from '@mikro-orm/migrations';

/** Schema `identity` with the audit log fed from the AUDIT stream. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('identity') is null then create schema "identity"; end if; end $$`);
    this.addSql(`comment on schema "identity" is 'Owned by the gateway: users, roles, tokens, audit log.'`);
    this.addSql(`create table "identity"."audit_log" (
      "id" bigserial primary key,
      "event_id" text not null,
      "subject" text not null,
      "service" text not null,
      "action" text not null,
      "actor" text not null,
      "resource_type" text null,
      "resource_id" text null,
      "event_type" text not null,
      "payload" jsonb not null,
      "occurred_at" timestamptz not null,
      "recorded_at" timestamptz not null default now(),
      constraint "audit_log_event_id_unique" unique ("event_id")
    )`);
    this.addSql('create index "audit_log_occurred_at_idx" on "identity"."audit_log" ("occurred_at" desc)');
    this.addSql('create index "audit_log_actor_idx" on "identity"."audit_log" ("actor", "occurred_at" desc)');
    this.addSql('create index "audit_log_action_idx" on "identity"."audit_log" ("action", "occurred_at" desc)');
  }

  override down(): void {
    this.addSql('drop table if exists "identity"."audit_log"');
  }
}
