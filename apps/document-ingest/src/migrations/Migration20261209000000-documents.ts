import { Migration } from '@mikro-orm/migrations';

const STATUSES = `'queued', 'parsing', 'chunking', 'embedding', 'indexing', 'ready', 'failed', 'superseded'`;
const STAGES = `'parse', 'chunk', 'embed', 'index'`;

/**
 * Documents, their pipeline versions, what each stage made (parsed blocks,
 * chunks with their passage vectors, kept per version so a redelivered stage
 * resumes where the last one committed) and the PostgreSQL blob store.
 */
export class Migration20261209000000Documents extends Migration {
  override up(): void {
    this.addSql(`create table "ingest"."blobs" (
      "id" uuid primary key,
      "size_bytes" bigint not null default 0,
      "parts" integer not null default 0,
      "complete" boolean not null default false,
      "created_at" timestamptz not null default now()
    )`);
    // Content in parts of at most 1 MiB, read back one part at a time.
    this.addSql(`create table "ingest"."blob_parts" (
      "blob_id" uuid not null references "ingest"."blobs" ("id") on delete cascade,
      "part" integer not null,
      "data" bytea not null,
      primary key ("blob_id", "part"),
      constraint "blob_parts_size" check (octet_length("data") <= 1048576)
    )`);
    this.addSql('create index "blobs_incomplete" on "ingest"."blobs" ("created_at") where not "complete"');

    this.addSql(`create table "ingest"."documents" (
      "id" uuid primary key,
      "owner_id" text not null,
      "title" text not null,
      "tags" text[] not null default '{}',
      "is_public" boolean not null default false,
      "shared_roles" text[] not null default '{}',
      "access_seq" bigint not null default 0,
      "filename" text not null,
      "format" text not null check ("format" in ('pdf', 'docx', 'html', 'md', 'txt', 'csv')),
      "mime_type" text not null,
      "size_bytes" bigint not null,
      "sha256" text not null check ("sha256" ~ '^[0-9a-f]{64}$'),
      "blob_store" text not null check ("blob_store" in ('postgres', 's3')),
      "blob_key" text not null,
      "current_version" integer not null default 1,
      "indexed_version" integer,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "deleted_at" timestamptz
    )`);
    this.addSql('create index "documents_owner_sha" on "ingest"."documents" ("owner_id", "sha256") where "deleted_at" is null');
    this.addSql('create index "documents_owner_created" on "ingest"."documents" ("owner_id", "created_at" desc) where "deleted_at" is null');
    this.addSql('create index "documents_public_created" on "ingest"."documents" ("created_at" desc) where "deleted_at" is null and "is_public"');
    this.addSql('create index "documents_shared_roles" on "ingest"."documents" using gin ("shared_roles") where "deleted_at" is null');
    this.addSql('create index "documents_tags" on "ingest"."documents" using gin ("tags") where "deleted_at" is null');

    this.addSql(`create table "ingest"."versions" (
      "document_id" uuid not null references "ingest"."documents" ("id") on delete cascade,
      "version" integer not null check ("version" >= 1),
      "status" text not null default 'queued' check ("status" in (${STATUSES})),
      "stage" text check ("stage" in (${STAGES})),
      "pages_parsed" integer not null default 0,
      "pages_total" integer not null default 0,
      "chunks_total" integer not null default 0,
      "chunks_embedded" integer not null default 0,
      "attempts" integer not null default 0,
      "requeues" integer not null default 0,
      "stage_ms" jsonb not null default '{}',
      "error" text,
      "failed_stage" text check ("failed_stage" in (${STAGES})),
      "model" text,
      "dimensions" integer,
      "encoding" text,
      "warnings" text[] not null default '{}',
      "stage_started_at" timestamptz,
      "published_at" timestamptz,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "finished_at" timestamptz,
      primary key ("document_id", "version")
    )`);
    this.addSql(`create index "versions_unfinished" on "ingest"."versions" ("updated_at") where "status" in ('queued', 'parsing', 'chunking', 'embedding', 'indexing')`);

    // The parse stage's output: the document's blocks in order, in parts.
    this.addSql(`create table "ingest"."parsed_parts" (
      "document_id" uuid not null,
      "version" integer not null,
      "part" integer not null,
      "blocks" jsonb not null,
      primary key ("document_id", "version", "part"),
      foreign key ("document_id", "version") references "ingest"."versions" ("document_id", "version") on delete cascade
    )`);
    // The chunk stage's output, and the embed stage's: one float32 little-endian vector per passage.
    this.addSql(`create table "ingest"."chunks" (
      "document_id" uuid not null,
      "version" integer not null,
      "chunk_index" integer not null,
      "id" uuid not null unique,
      "content" text not null,
      "heading_path" text[] not null default '{}',
      "page_start" integer,
      "page_end" integer,
      "tokens" integer not null,
      "passages" integer,
      "vectors" bytea,
      primary key ("document_id", "version", "chunk_index"),
      foreign key ("document_id", "version") references "ingest"."versions" ("document_id", "version") on delete cascade,
      constraint "chunks_vectors" check (("passages" is null) = ("vectors" is null))
    )`);
    this.addSql('create index "chunks_unembedded" on "ingest"."chunks" ("document_id", "version", "chunk_index") where "vectors" is null');
  }

  override down(): void {
    for (const table of ['chunks', 'parsed_parts', 'versions', 'documents', 'blob_parts', 'blobs']) this.addSql(`drop table if exists "ingest"."${table}"`);
  }
}
