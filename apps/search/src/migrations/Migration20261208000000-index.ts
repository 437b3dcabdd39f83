import { Migration } from '@mikro-orm/migrations';

/**
 * The chunk index. A document version arrives in batches (JOBS_SEARCH): its
 * chunks and passages are written as staging rows (`live = false`), the
 * batches received are recorded in `version_batches`, and once all are there
 * one transaction makes that version live and deletes the previous one, so a
 * query (which filters on `live`) sees one whole version or the other.
 *
 * Access facts (owner, public, shared roles, tags, title) are copied onto
 * every chunk and passage so access is filtered on the row an index scan
 * returns (HNSW, GIN). `documents` holds the newest access facts per document
 * (by access_seq), the live version and the deletion tombstone.
 *
 * BM25 statistics over live chunks (a chunk is BM25's "document"): `terms`
 * (document frequency per lexeme) and `stats` (live chunk count and total
 * length), kept in the transactions that change what is live.
 *
 * The HNSW indexes on passages are not created here: their parameters are
 * configuration (SEARCH_HNSW_M, SEARCH_HNSW_EF_CONSTRUCTION), so `migrate`
 * creates or rebuilds them after the migrations (src/index/vector-indexes.ts).
 *
 * fillfactor 50 on chunks and passages leaves room on each page, so the swap
 * (live = true) and access changes are HOT updates that add no index entries.
 */
export class Migration20261208000000Index extends Migration {
  override up(): void {
    this.addSql(`create table "search"."documents" (
      "document_id" uuid primary key,
      "live_version" integer,
      "owner_id" text not null default '',
      "is_public" boolean not null default false,
      "shared_roles" text[] not null default '{}',
      "tags" text[] not null default '{}',
      "title" text not null default '',
      "access_seq" bigint not null default -1,
      "deleted_through" integer,
      "deleted_at" timestamptz,
      "model" text,
      "dims" integer,
      "chunk_count" integer not null default 0,
      "indexed_at" timestamptz,
      "updated_at" timestamptz not null default now()
    )`);
    this.addSql(`comment on column "search"."documents"."deleted_through" is 'Tombstone: versions up to this one are deleted for good (2147483647: the whole document)'`);

    this.addSql(`create table "search"."versions" (
      "document_id" uuid not null,
      "version" integer not null check ("version" >= 1),
      "batch_count" integer not null check ("batch_count" >= 1),
      "total_chunks" integer not null check ("total_chunks" >= 0),
      "model" text not null,
      "dims" integer not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("document_id", "version")
    )`);
    this.addSql(`create table "search"."version_batches" (
      "document_id" uuid not null,
      "version" integer not null,
      "batch_index" integer not null,
      "chunk_count" integer not null,
      "received_at" timestamptz not null default now(),
      primary key ("document_id", "version", "batch_index")
    )`);

    // The tsvector a chunk is searched by: title (A), headings (B), content (D), English stemming.
    this.addSql(`create function "search"."chunk_tsv"(title text, heading_path text[], content text) returns tsvector
      language sql immutable parallel safe as $$
        select setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
            || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(heading_path, ' '), '')), 'B')
            || setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'D')
      $$`);
    // BM25's document length: lexeme occurrences (stop words are not counted).
    this.addSql(`create function "search"."tsv_length"(tsv tsvector) returns integer
      language sql immutable parallel safe as $$
        select coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer from unnest(tsv)
      $$`);
    this.addSql(`create function "search"."chunks_set_tsv"() returns trigger language plpgsql as $$
      begin
        new.tsv := "search"."chunk_tsv"(new.title, new.heading_path, new.content);
        new.doc_length := "search"."tsv_length"(new.tsv);
        return new;
      end $$`);

    this.addSql(`create table "search"."chunks" (
      "id" uuid primary key,
      "document_id" uuid not null,
      "version" integer not null,
      "chunk_index" integer not null,
      "content" text not null,
      "heading_path" text[] not null default '{}',
      "page_start" integer,
      "page_end" integer,
      "live" boolean not null default false,
      "owner_id" text not null,
      "is_public" boolean not null,
      "shared_roles" text[] not null,
      "tags" text[] not null,
      "title" text not null,
      "model" text not null,
      "tsv" tsvector not null,
      "doc_length" integer not null,
      unique ("document_id", "version", "chunk_index")
    ) with (fillfactor = 50)`);
    this.addSql(`create trigger "chunks_tsv_insert" before insert on "search"."chunks" for each row execute function "search"."chunks_set_tsv"()`);
    this.addSql(`create trigger "chunks_tsv_update" before update of "title", "heading_path", "content" on "search"."chunks" for each row
      when (old."title" is distinct from new."title" or old."heading_path" is distinct from new."heading_path" or old."content" is distinct from new."content")
      execute function "search"."chunks_set_tsv"()`);
    this.addSql('create index "chunks_tsv_idx" on "search"."chunks" using gin ("tsv")');
    this.addSql('create index "chunks_tags_idx" on "search"."chunks" using gin ("tags")');
    this.addSql('create index "chunks_shared_roles_idx" on "search"."chunks" using gin ("shared_roles")');
    this.addSql('create index "chunks_owner_idx" on "search"."chunks" ("owner_id")');

    this.addSql(`create table "search"."passages" (
      "chunk_id" uuid not null,
      "passage_index" integer not null,
      "document_id" uuid not null,
      "version" integer not null,
      "live" boolean not null default false,
      "owner_id" text not null,
      "is_public" boolean not null,
      "shared_roles" text[] not null,
      "tags" text[] not null,
      "model" text not null,
      "dims" integer not null,
      "embedding" vector not null check (vector_dims("embedding") = "dims"),
      primary key ("chunk_id", "passage_index")
    ) with (fillfactor = 50)`);
    this.addSql('create index "passages_document_idx" on "search"."passages" ("document_id", "version")');
    this.addSql('create index "passages_owner_idx" on "search"."passages" ("owner_id")');
    this.addSql('create index "passages_shared_roles_idx" on "search"."passages" using gin ("shared_roles")');
    this.addSql('create index "passages_tags_idx" on "search"."passages" using gin ("tags")');

    this.addSql(`create table "search"."terms" (
      "lexeme" text collate "C" primary key,
      "df" integer not null
    )`);
    this.addSql(`comment on table "search"."terms" is 'BM25: live chunks containing each lexeme of chunks.tsv'`);
    this.addSql(`create table "search"."stats" (
      "id" boolean primary key default true check ("id"),
      "total_docs" bigint not null default 0,
      "total_length" bigint not null default 0
    )`);
    this.addSql(`comment on table "search"."stats" is 'BM25: live chunks (total_docs) and the sum of their doc_length (total_length)'`);
    this.addSql('insert into "search"."stats" default values');
  }

  override down(): void {
    for (const table of ['stats', 'terms', 'passages', 'chunks', 'version_batches', 'versions', 'documents']) this.addSql(`drop table if exists "search"."${table}"`);
    this.addSql('drop function if exists "search"."chunks_set_tsv"()');
    this.addSql('drop function if exists "search"."tsv_length"(tsvector)');
    this.addSql('drop function if exists "search"."chunk_tsv"(text, text[], text)');
  }
}
