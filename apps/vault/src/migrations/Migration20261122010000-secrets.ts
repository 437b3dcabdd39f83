import { Migration } from '@mikro-orm/migrations';

/**
 * Secrets and their immutable, envelope-encrypted versions. A version's
 * ciphertext never changes; only its wrapped data key and key id may (KEK
 * rotation re-wraps), which a trigger enforces.
 */
export class Migration20261122010000Secrets extends Migration {
  override up(): void {
    this.addSql(`create table "vault"."secrets" (
      "id" uuid primary key,
      "owner_id" text not null,
      "name" text not null,
      "description" text not null default '',
      "tags" text[] not null default '{}',
      "shared_with_roles" text[] not null default '{}',
      "expires_at" timestamptz null,
      "is_active" boolean not null default true,
      "rotation_enabled" boolean not null default false,
      "rotation_interval_days" integer null check ("rotation_interval_days" between 1 and 3650),
      "rotation_strategy" text not null default 'manual' check ("rotation_strategy" in ('manual', 'random')),
      "next_rotation_at" timestamptz null,
      "last_rotated_at" timestamptz null,
      "current_version" integer not null default 0,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "deleted_at" timestamptz null
    )`);
    this.addSql('create unique index "secrets_owner_name_unique" on "vault"."secrets" ("owner_id", lower("name")) where "deleted_at" is null');
    this.addSql('create index "secrets_owner_idx" on "vault"."secrets" ("owner_id", "created_at") where "deleted_at" is null');
    this.addSql('create index "secrets_shared_roles_idx" on "vault"."secrets" using gin ("shared_with_roles") where "deleted_at" is null');
    this.addSql('create index "secrets_rotation_due_idx" on "vault"."secrets" ("next_rotation_at") where "rotation_enabled" and "deleted_at" is null');
    this.addSql('create index "secrets_expiry_idx" on "vault"."secrets" ("expires_at") where "expires_at" is not null and "deleted_at" is null');
    this.addSql(`create table "vault"."secret_versions" (
      "secret_id" uuid not null references "vault"."secrets" ("id") on delete cascade,
      "version" integer not null check ("version" >= 1),
      "ciphertext" bytea not null,
      "wrapped_key" bytea not null,
      "key_id" text not null,
      "created_by" text not null,
      "created_at" timestamptz not null default now(),
      primary key ("secret_id", "version")
    )`);
    this.addSql('create index "secret_versions_key_id_idx" on "vault"."secret_versions" ("key_id")');
    this.addSql(`create function "vault"."secret_versions_immutable"() returns trigger language plpgsql as $$
      begin
        if new.ciphertext <> old.ciphertext or new.secret_id <> old.secret_id or new.version <> old.version
           or new.created_by <> old.created_by or new.created_at <> old.created_at then
          raise exception 'secret versions are immutable (only wrapped_key and key_id may change)';
        end if;
        return new;
      end $$`);
    this.addSql(`create trigger "secret_versions_immutable" before update on "vault"."secret_versions"
      for each row execute function "vault"."secret_versions_immutable"()`);
    this.addSql(`create table "vault"."legacy_imports" (
      "legacy_id" text primary key,
      "secret_id" uuid not null references "vault"."secrets" ("id") on delete cascade,
      "imported_at" timestamptz not null default now()
    )`);
  }

  override down(): void {
    this.addSql('drop table if exists "vault"."legacy_imports"');
    this.addSql('drop table if exists "vault"."secret_versions"');
    this.addSql('drop function if exists "vault"."secret_versions_immutable"() cascade');
    this.addSql('drop table if exists "vault"."secrets"');
  }
}
