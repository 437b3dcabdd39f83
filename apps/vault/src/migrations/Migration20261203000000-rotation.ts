import { Migration } from '@mikro-orm/migrations';

/**
 * Rotation strategies with policies, two-phase rotation (a pending version
 * that is stored but not yet current), rotation state and expiry warnings.
 * Versions stay immutable: promotion only moves `current_version`.
 */
export class Migration20261203000000Rotation extends Migration {
  override up(): void {
    this.addSql(`alter table "vault"."secrets"
      add column "rotation_policy" jsonb not null default '{}'::jsonb,
      add column "rotation_state" text not null default 'ok' check ("rotation_state" in ('ok', 'pending', 'failed')),
      add column "rotation_last_error" text null check (length("rotation_last_error") <= 1000),
      add column "pending_version" integer null check ("pending_version" >= 2),
      add column "expiry_warned_days" integer null`);
    this.addSql(`alter table "vault"."secrets" drop constraint if exists "secrets_rotation_strategy_check"`);
    this.addSql(`alter table "vault"."secrets" add constraint "secrets_rotation_strategy_check"
      check ("rotation_strategy" in ('manual', 'random', 'postgres', 'webhook'))`);
    // A pending version is always ahead of the current one.
    this.addSql(`alter table "vault"."secrets" add constraint "secrets_pending_after_current"
      check ("pending_version" is null or "pending_version" > "current_version")`);
    // The due scan: enabled, active, live secrets in (next_rotation_at, id) order.
    this.addSql('drop index if exists "vault"."secrets_rotation_due_idx"');
    this.addSql(`create index "secrets_rotation_due_idx" on "vault"."secrets" ("next_rotation_at", "id")
      where "rotation_enabled" and "is_active" and "deleted_at" is null`);
    this.addSql(`create index "secrets_active_expiry_idx" on "vault"."secrets" ("expires_at", "id")
      where "expires_at" is not null and "is_active" and "deleted_at" is null`);
    // A new expiry starts the warnings over, whoever changes it.
    this.addSql(`create function "vault"."secrets_expiry_warnings_reset"() returns trigger language plpgsql as $$
      begin
        if new.expires_at is distinct from old.expires_at then
          new.expiry_warned_days := null;
        end if;
        return new;
      end $$`);
    this.addSql(`create trigger "secrets_expiry_warnings_reset" before update of "expires_at" on "vault"."secrets"
      for each row execute function "vault"."secrets_expiry_warnings_reset"()`);
    // Due instants are paged and named in job ids in Unix ms: store them at ms precision, so a cursor matches its row.
    this.addSql(`create function "vault"."secrets_due_ms"() returns trigger language plpgsql as $$
      begin
        new.next_rotation_at := date_trunc('milliseconds', new.next_rotation_at);
        return new;
      end $$`);
    this.addSql(`create trigger "secrets_due_ms" before insert or update of "next_rotation_at" on "vault"."secrets"
      for each row execute function "vault"."secrets_due_ms"()`);
    // Event ids are deterministic strings (e.g. <job id>:<attempt>:<status>), not only UUIDs.
    this.addSql('alter table "vault"."outbox" alter column "event_id" type text using "event_id"::text');
  }

  override down(): void {
    this.addSql('alter table "vault"."outbox" alter column "event_id" type uuid using "event_id"::uuid');
    this.addSql('drop trigger if exists "secrets_due_ms" on "vault"."secrets"');
    this.addSql('drop function if exists "vault"."secrets_due_ms"()');
    this.addSql('drop trigger if exists "secrets_expiry_warnings_reset" on "vault"."secrets"');
    this.addSql('drop function if exists "vault"."secrets_expiry_warnings_reset"()');
    this.addSql('drop index if exists "vault"."secrets_active_expiry_idx"');
    this.addSql('drop index if exists "vault"."secrets_rotation_due_idx"');
    this.addSql(`create index "secrets_rotation_due_idx" on "vault"."secrets" ("next_rotation_at") where "rotation_enabled" and "deleted_at" is null`);
    this.addSql('alter table "vault"."secrets" drop constraint if exists "secrets_pending_after_current"');
    this.addSql('alter table "vault"."secrets" drop constraint if exists "secrets_rotation_strategy_check"');
    this.addSql(`alter table "vault"."secrets" add constraint "secrets_rotation_strategy_check" check ("rotation_strategy" in ('manual', 'random'))`);
    this.addSql(`alter table "vault"."secrets" drop column "rotation_policy", drop column "rotation_state", drop column "rotation_last_error",
      drop column "pending_version", drop column "expiry_warned_days"`);
  }
}
