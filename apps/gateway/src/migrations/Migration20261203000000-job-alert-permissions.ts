import { Migration } from '@mikro-orm/migrations';

// Data, not an import (see the identity migration): what the seeded roles gain with jobs and alerts.
const GRANTS: readonly { role: string; permissions: readonly string[] }[] = [
  { role: 'ADMIN', permissions: ['jobs:read', 'alerts:read', 'alerts:admin'] },
  { role: 'USER', permissions: ['jobs:read', 'alerts:read'] },
];

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;
const array = (values: readonly string[]) => `array[${values.map(literal).join(', ')}]::text[]`;

/**
 * The seeded roles of an existing database get the permissions added with
 * background jobs and alerts (a fresh one gets them here too: the identity
 * migration's seed is frozen). Appended, each once; an operator's other
 * changes to the roles are kept. Roles an operator deleted stay deleted.
 */
export class Migration20261203000000JobAlertPermissions extends Migration {
  override up(): void {
    for (const { role, permissions } of GRANTS) {
      this.addSql(
        `update "identity"."roles" set "permissions" = "permissions" || array(select p from unnest(${array(permissions)}) with ordinality as g(p, i) where p <> all("permissions") order by i), ` +
          `"updated_at" = now() where "name" = ${literal(role)} and not ("permissions" @> ${array(permissions)})`,
      );
    }
  }

  override down(): void {
    for (const { role, permissions } of GRANTS) {
      this.addSql(
        `update "identity"."roles" set "permissions" = array(select p from unnest("permissions") with ordinality as g(p, i) where p <> all(${array(permissions)}) order by i), "updated_at" = now() where "name" = ${literal(role)}`,
      );
    }
  }
}
