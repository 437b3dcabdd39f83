import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261203000000Jobs } from './Migration20261203000000-jobs.ts';
import { Migration20261203010000Alerts } from './Migration20261203010000-alerts.ts';
import { Migration20261203020000Schedules } from './Migration20261203020000-schedules.ts';
import { Migration20261203030000Outbox } from './Migration20261203030000-outbox.ts';
import { Migration20261205000000RunToolTarget } from './Migration20261205000000-run-tool-target.ts';
import { Migration20261210000000ReindexDocumentTarget } from './Migration20261210000000-reindex-document-target.ts';

/** Every migration of schema `scheduler`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261203000000-jobs', class: Migration20261203000000Jobs },
  { name: 'Migration20261203010000-alerts', class: Migration20261203010000Alerts },
  { name: 'Migration20261203020000-schedules', class: Migration20261203020000Schedules },
  { name: 'Migration20261203030000-outbox', class: Migration20261203030000Outbox },
  { name: 'Migration20261205000000-run-tool-target', class: Migration20261205000000RunToolTarget },
  { name: 'Migration20261210000000-reindex-document-target', class: Migration20261210000000ReindexDocumentTarget },
];
