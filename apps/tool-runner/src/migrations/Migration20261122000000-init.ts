import { Migration } from '@mikro-orm/migrations';

/** Schema `tools` exists and belongs to the tool-runner service. */
export class Migration20261122000000Init extends Migration {
  override up(): void {
    this.addSql('create schema if not exists "tools"');
    this.addSql(`comment on schema "tools" is 'Owned by the tool-runner service: tool registry and executions.'`);
  }

  override down(): void {
    this.addSql('drop schema if exists "tools" cascade');
  }
}
