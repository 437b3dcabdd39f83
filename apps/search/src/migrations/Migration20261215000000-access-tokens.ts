import { Migration } from '@mikro-orm/migrations';

/**
 * `chunks.access`: the chunk's access facts as tokens — `public`,
 * `user:<owner>`, `role:<shared role>` — generated from `is_public`,
 * `owner_id` and `shared_roles`, so every write of those facts (indexing,
 * an access change) keeps it. The GIN index over `(tsv, access)` replaces
 * the one over `tsv` alone: a keyword round of a caller who sees part of the
 * index asks for its terms AND their tokens (`access && …`), and the index
 * scan hands the heap only the chunks they may see. 100,000 chunks, a caller
 * seeing 10 %: a round of 2,074 term matches read 2,055 heap blocks and
 * dropped 1,872 rows at the access filter, 14–19 ms; with the tokens 213
 * blocks, 2.6 ms. The row filter stays (it also checks `live`); the tokens
 * only narrow what is fetched. The rewrite holds the table's exclusive lock
 * (~10 s per 100,000 chunks here; deploy/README.md, upgrades).
 */
export class Migration20261215000000AccessTokens extends Migration {
  override up(): void {
    this.addSql(`create function "search"."access_tokens"(is_public boolean, owner_id text, shared_roles text[]) returns text[]
      language sql immutable parallel safe
      as $$ select case when is_public then array['public'] else '{}'::text[] end || array['user:' || owner_id] || array(select 'role:' || r from unnest(shared_roles) r) $$`);
    this.addSql(`alter table "search"."chunks" add column "access" text[] not null generated always as ("search"."access_tokens"("is_public", "owner_id", "shared_roles")) stored`);
    this.addSql('drop index "search"."chunks_tsv_idx"');
    this.addSql('create index "chunks_tsv_access_idx" on "search"."chunks" using gin ("tsv", "access")');
    // The table was rewritten: fresh statistics (the planner weighs the tokens by their frequencies).
    this.addSql('analyze "search"."chunks"');
  }

  override down(): void {
    this.addSql('drop index "search"."chunks_tsv_access_idx"');
    this.addSql('create index "chunks_tsv_idx" on "search"."chunks" using gin ("tsv")');
    this.addSql('alter table "search"."chunks" drop column "access"');
    this.addSql('drop function "search"."access_tokens"(boolean, text, text[])');
  }
}
