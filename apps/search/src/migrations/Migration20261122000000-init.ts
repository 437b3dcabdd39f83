import { Migration } from '@mikro-orm/migrations';

/**
 * Schema `search` exists and belongs to the search service; pgvector is
 * enabled (in `public`, where extensions live) for the chunk index.
 */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    this.addSql('create extension if not exists vector');
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('search') is null then create schema "search"; end if; end $$`);
    this.addSql(`comment on schema "search" is 'Owned by the search service: chunk index for vector and keyword search.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "search" cascade');
  }
}
