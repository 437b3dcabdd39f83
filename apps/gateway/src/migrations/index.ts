import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261201000000Identity } from './Migration20261201000000-identity.ts';
import { Migration20261202000000Sessions } from './Migration20261202000000-sessions.ts';
import { Migration20261202010000AuditIntegrity } from './Migration20261202010000-audit-integrity.ts';
import { Migration20261203000000JobAlertPermissions } from './Migration20261203000000-job-alert-permissions.ts';
import { Migration20261209000000DocumentAdminPermission } from './Migration20261209000000-document-admin-permission.ts';

/** Every migration of schema `identity`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261201000000-identity', class: Migration20261201000000Identity },
  { name: 'Migration20261202000000-sessions', class: Migration20261202000000Sessions },
  { name: 'Migration20261202010000-audit-integrity', class: Migration20261202010000AuditIntegrity },
  { name: 'Migration20261203000000-job-alert-permissions', class: Migration20261203000000JobAlertPermissions },
  { name: 'Migration20261209000000-document-admin-permission', class: Migration20261209000000DocumentAdminPermission },
];
