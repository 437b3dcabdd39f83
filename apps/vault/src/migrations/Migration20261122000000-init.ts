import { Migration } from '@mikro-orm/migrations';

/** Schema `vault` exists and belongs to the vault service; its tables arrive with the vault feature. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    this.addSql('create schema if not exists "vault"');
    this.addSql(`comment on schema "vault" is 'Owned by the vault service: secrets, versions, wrapped data keys.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "vault" cascade');
  }
}
