import { Migration } from '@mikro-orm/migrations';

/** Schema `ingest` exists and belongs to the document-ingest service. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('ingest') is null then create schema "ingest"; end if; end $$`);
    this.addSql(`comment on schema "ingest" is 'Owned by the document-ingest service: documents, blobs, pipeline state.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "ingest" cascade');
  }
}
