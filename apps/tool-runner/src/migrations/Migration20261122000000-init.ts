import { Migration } from '@mikro-orm/migrations';

/** Schema `tools` exists and belongs to the tool-runner service. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    // Provisioned databases already have it (owned by the service's role, which may not CREATE SCHEMA:
    // IF NOT EXISTS checks that right before it looks); a superuser URL creates it here.
    this.addSql(`do $$ begin if to_regnamespace('tools') is null then create schema "tools"; end if; end $$`);
    this.addSql(`comment on schema "tools" is 'Owned by the tool-runner service: tool registry and executions.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "tools" cascade');
  }
}
