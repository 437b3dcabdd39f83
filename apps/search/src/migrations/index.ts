import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261208000000Index } from './Migration20261208000000-index.ts';
import { Migration20261208010000Outbox } from './Migration20261208010000-outbox.ts';
import { Migration20261214000000PassageCount } from './Migration20261214000000-passage-count.ts';
import { Migration20261215000000AccessTokens } from './Migration20261215000000-access-tokens.ts';

/** Every migration of schema `search`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261208000000-index', class: Migration20261208000000Index },
  { name: 'Migration20261208010000-outbox', class: Migration20261208010000Outbox },
  { name: 'Migration20261214000000-passage-count', class: Migration20261214000000PassageCount },
  { name: 'Migration20261215000000-access-tokens', class: Migration20261215000000AccessTokens },
];
