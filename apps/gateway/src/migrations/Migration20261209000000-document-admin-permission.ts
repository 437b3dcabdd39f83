import { Migration } from '@mikro-orm/migrations';

// Data, not an import (see the identity migration): what ADMIN gains with document administration.
const ROLE = 'ADMIN';
const PERMISSION = 'documents:admin';

/**
 * The seeded ADMIN role gets documents:admin (see and manage every user's
 * documents, list them by owner), once; an operator's other changes to the
 * role are kept, and a deleted ADMIN role stays deleted.
 */
export class Migration20261209000000DocumentAdminPermission extends Migration {
  override up(): void {
    this.addSql(`update "identity"."roles" set "permissions" = "permissions" || array['${PERMISSION}']::text[], "updated_at" = now() where "name" = '${ROLE}' and not ('${PERMISSION}' = any("permissions"))`);
  }

  override down(): void {
    this.addSql(`update "identity"."roles" set "permissions" = array_remove("permissions", '${PERMISSION}'), "updated_at" = now() where "name" = '${ROLE}'`);
  }
}
