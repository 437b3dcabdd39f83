import type { MigrationObject } from '@csda/service-kit';
import { Migration20261122000000Init } from './Migration20261122000000-init.ts';
import { Migration20261122010000Secrets } from './Migration20261122010000-secrets.ts';
import { Migration20261202010000Outbox } from './Migration20261202010000-outbox.ts';
import { Migration20261203000000Rotation } from './Migration20261203000000-rotation.ts';
import { Migration20261205000000ToolGrants } from './Migration20261205000000-tool-grants.ts';

/** Every migration of schema `vault`, oldest first. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122000000-init', class: Migration20261122000000Init },
  { name: 'Migration20261122010000-secrets', class: Migration20261122010000Secrets },
  { name: 'Migration20261202010000-outbox', class: Migration20261202010000Outbox },
  { name: 'Migration20261203000000-rotation', class: Migration20261203000000Rotation },
  { name: 'Migration20261205000000-tool-grants', class: Migration20261205000000ToolGrants },
];
