import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261209000000Documents } from './Migration20261209000000-documents.ts';
import { Migration20261209010000Outbox } from './Migration20261209010000-outbox.ts';
import { Migration20261213000000ScheduledReindex } from './Migration20261213000000-scheduled-reindex.ts';

/** Every migration of schema `ingest`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261209000000-documents', class: Migration20261209000000Documents },
  { name: 'Migration20261209010000-outbox', class: Migration20261209010000Outbox },
  { name: 'Migration20261213000000-scheduled-reindex', class: Migration20261213000000ScheduledReindex },
];
