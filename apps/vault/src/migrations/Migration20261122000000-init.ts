import { Migration } from '@mikro-orm/migrations';

/** Schema `vault` exists and belongs to the vault service; its tables arrive with the vault feature. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('vault') is null then create schema "vault"; end if; end $$`);
    this.addSql(`comment on schema "vault" is 'Owned by the vault service: secrets, versions, wrapped data keys.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "vault" cascade');
  }
}
