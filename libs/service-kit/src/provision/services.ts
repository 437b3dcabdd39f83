import type { ServiceSchema } from '../database.ts';

/** What provisioning needs to know about one service's database access. */
export interface DatabaseService {
  /** Service name, as in apps/<name> and its definition. */
  readonly service: string;
  /** The one schema it owns. */
  readonly schema: ServiceSchema;
  /** Needs the `vector` type (USAGE on the schema where the extension lives). */
  readonly usesVector: boolean;
}

/**
 * Every service that owns a schema. The schema names match each app's
 * `definition.schema` (libs cannot import apps; libs/testing's role test
 * migrates every app as the role provisioned from this list).
 */
export const DATABASE_SERVICES: readonly DatabaseService[] = [
  { service: 'gateway', schema: 'identity', usesVector: false },
  { service: 'vault', schema: 'vault', usesVector: false },
  { service: 'tool-runner', schema: 'tools', usesVector: false },
  { service: 'document-ingest', schema: 'ingest', usesVector: false },
  { service: 'search', schema: 'search', usesVector: true },
  { service: 'scheduler', schema: 'scheduler', usesVector: false },
];

/** The default PostgreSQL role of a service: `csda_vault`, `csda_tool_runner`, … */
export function defaultRoleName(service: string): string {
  return `csda_${service.replaceAll('-', '_')}`;
}

/** Prefix of a service's provisioning variables: `VAULT` → VAULT_DATABASE_URL, VAULT_DATABASE_PASSWORD. */
export function serviceEnvPrefix(service: string): string {
  return service.toUpperCase().replaceAll('-', '_');
}

/** Role names provisioning accepts: plain lowercase identifiers, never a reserved `pg_` name. */
export const PG_ROLE_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/;
