import { Migration } from '@mikro-orm/migrations';

// Data, not an import: a migration must produce the same schema forever, even
// after SEEDED_ROLES in @csda/auth changes (a later migration updates roles).
const SEEDED_ROLES = [
  {
    name: 'ADMIN',
    description: 'Full access to every resource, user and role',
    permissions: [
      'secrets:read', 'secrets:write', 'secrets:reveal', 'secrets:admin',
      'users:read', 'users:admin', 'roles:read', 'roles:admin', 'audit:read',
      'tools:read', 'tools:write', 'tools:execute', 'documents:read', 'documents:write',
      'search:query', 'schedules:read', 'schedules:write', 'system:read',
    ],
  },
  {
    name: 'USER',
    description: 'Works with their own secrets, tools, documents, searches and schedules',
    permissions: [
      'secrets:read', 'secrets:write', 'secrets:reveal',
      'tools:read', 'tools:write', 'tools:execute', 'documents:read', 'documents:write',
      'search:query', 'schedules:read', 'schedules:write',
    ],
  },
];

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Users, roles (seeded ADMIN and USER), role assignments and refresh tokens. */
export class Migration20261201000000Identity extends Migration {
  override up(): void {
    this.addSql(`create table "identity"."roles" (
      "name" text primary key,
      "description" text not null default '',
      "permissions" text[] not null default '{}',
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "roles_name_format" check ("name" ~ '^[A-Z][A-Z0-9_]{0,63}$')
    )`);
    this.addSql(`create table "identity"."users" (
      "id" uuid primary key,
      "username" text not null,
      "email" text not null,
      "password_hash" text not null,
      "is_active" boolean not null default true,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "last_login_at" timestamptz null
    )`);
    this.addSql('create unique index "users_username_lower_unique" on "identity"."users" (lower("username"))');
    this.addSql('create unique index "users_email_lower_unique" on "identity"."users" (lower("email"))');
    this.addSql(`create table "identity"."user_roles" (
      "user_id" uuid not null references "identity"."users" ("id") on delete cascade,
      "role_name" text not null references "identity"."roles" ("name") on update cascade on delete cascade,
      "created_at" timestamptz not null default now(),
      primary key ("user_id", "role_name")
    )`);
    this.addSql('create index "user_roles_role_name_idx" on "identity"."user_roles" ("role_name")');
    this.addSql(`create table "identity"."refresh_tokens" (
      "id" uuid primary key,
      "token_hash" text not null,
      "family_id" uuid not null,
      "user_id" uuid not null references "identity"."users" ("id") on delete cascade,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "used_at" timestamptz null,
      "revoked_at" timestamptz null,
      constraint "refresh_tokens_token_hash_unique" unique ("token_hash")
    )`);
    this.addSql('create index "refresh_tokens_family_id_idx" on "identity"."refresh_tokens" ("family_id")');
    this.addSql('create index "refresh_tokens_user_id_idx" on "identity"."refresh_tokens" ("user_id", "created_at" desc)');
    this.addSql('create index "refresh_tokens_expires_at_idx" on "identity"."refresh_tokens" ("expires_at")');
    this.addSql('create index "audit_log_resource_idx" on "identity"."audit_log" ("resource_type", "resource_id", "occurred_at" desc)');
    for (const role of SEEDED_ROLES) {
      this.addSql(
        `insert into "identity"."roles" ("name", "description", "permissions") values (${literal(role.name)}, ${literal(role.description)}, ` +
          `array[${role.permissions.map(literal).join(', ')}]::text[]) on conflict ("name") do nothing`,
      );
    }
  }

  override down(): void {
    this.addSql('drop index if exists "identity"."audit_log_resource_idx"');
    this.addSql('drop table if exists "identity"."refresh_tokens"');
    this.addSql('drop table if exists "identity"."user_roles"');
    this.addSql('drop table if exists "identity"."users"');
    this.addSql('drop table if exists "identity"."roles"');
  }
}
