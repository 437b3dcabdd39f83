import { Migration } from '@mikro-orm/migrations';

/**
 * Grants of secrets to tools: a tool may have a secret revealed at execution
 * only while an active grant (secret → tool) exists. Rows are never deleted:
 * a revoke stamps who, when and why, so the history stays listable.
 */
export class Migration20261205000000ToolGrants extends Migration {
  override up(): void {
    this.addSql(`create table "vault"."tool_grants" (
      "id" bigint generated always as identity primary key,
      "secret_id" uuid not null references "vault"."secrets" ("id"),
      "tool_id" uuid not null,
      "tool_name" text not null default '' check (length("tool_name") <= 255),
      "binding" text not null check ("binding" = 'datasource' or "binding" ~ '^(env|header):.{1,200}$'),
      "granted_by" text not null,
      "created_at" timestamptz not null default now(),
      "revoked_at" timestamptz null,
      "revoked_by" text null,
      "revoke_reason" text null check ("revoke_reason" in ('tool_updated', 'tool_deleted', 'owner_revoked', 'secret_deleted')),
      constraint "tool_grants_revoked_whole" check (("revoked_at" is null) = ("revoked_by" is null) and ("revoked_at" is null) = ("revoke_reason" is null))
    )`);
    this.addSql(`create unique index "tool_grants_active_unique" on "vault"."tool_grants" ("tool_id", "secret_id", "binding") where "revoked_at" is null`);
    this.addSql(`create index "tool_grants_secret_idx" on "vault"."tool_grants" ("secret_id", "created_at" desc, "id" desc)`);
  }

  override down(): void {
    this.addSql('drop table "vault"."tool_grants"');
  }
}
