import { Migration } from '@mikro-orm/migrations';

/**
 * Refresh-token families get an absolute lifetime and a reuse grace window:
 * `family_started_at` (when the login that began the family happened, copied
 * to every token of it; existing families start at their oldest token) and
 * `used_by` (a hash of the client, address and user agent, that spent the
 * token, so the same client refreshing twice at once is told from a replay).
 */
export class Migration20261202000000Sessions extends Migration {
  override up(): void {
    this.addSql('alter table "identity"."refresh_tokens" add column "family_started_at" timestamptz null, add column "used_by" text null');
    this.addSql(`update "identity"."refresh_tokens" t set "family_started_at" = f."started"
      from (select "family_id", min("created_at") "started" from "identity"."refresh_tokens" group by "family_id") f
      where f."family_id" = t."family_id"`);
    this.addSql('alter table "identity"."refresh_tokens" alter column "family_started_at" set default now(), alter column "family_started_at" set not null');
  }

  override down(): void {
    this.addSql('alter table "identity"."refresh_tokens" drop column if exists "used_by", drop column if exists "family_started_at"');
  }
}
