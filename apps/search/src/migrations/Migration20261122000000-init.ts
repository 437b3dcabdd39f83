import { Migration } from '@mikro-orm/migrations';

/**
 * Schema `search` exists and belongs to the search service; pgvector is
 * enabled (in `public`, where extensions live) for the chunk index.
 */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    this.addSql('create extension if not exists vector');
    this.addSql('create schema if not exists "search"');
    this.addSql(`comment on schema "search" is 'Owned by the search service: chunk index for vector and keyword search.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "search" cascade');
  }
}
