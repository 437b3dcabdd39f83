import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261204000000Tools } from './Migration20261204000000-tools.ts';
import { Migration20261204010000Outbox } from './Migration20261204010000-outbox.ts';
import { Migration20261206000000ExecutionIdempotency } from './Migration20261206000000-execution-idempotency.ts';

/** Every migration of schema `tools`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261204000000-tools', class: Migration20261204000000Tools },
  { name: 'Migration20261204010000-outbox', class: Migration20261204010000Outbox },
  { name: 'Migration20261206000000-execution-idempotency', class: Migration20261206000000ExecutionIdempotency },
];
