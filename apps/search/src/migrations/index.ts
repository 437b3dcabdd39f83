import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';

/** Every migration of schema `search`, oldest first. */
export const migrations: MigrationObject[] = [{ name: 'Migration20261122000000-init', class: Migration20261122000000Init }];
