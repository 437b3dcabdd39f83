import { Migration } from '@mikro-orm/migrations';

/** Schema `ingest` exists and belongs to the document-ingest service. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    this.addSql('create schema if not exists "ingest"');
    this.addSql(`comment on schema "ingest" is 'Owned by the document-ingest service: documents, blobs, pipeline state.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "ingest" cascade');
  }
}
