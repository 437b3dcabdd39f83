import { ConfigError } from '../config.ts';
import type { RoleRequest } from './provision.ts';
import { DATABASE_SERVICES, defaultRoleName, PG_ROLE_NAME, serviceEnvPrefix } from './services.ts';

export interface ProvisionConfig {
  /** Admin connection to the CSDA database (creates roles, schemas, the extension). */
  readonly adminUrl: string;
  readonly roles: readonly RoleRequest[];
  readonly startupTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function parsePostgresUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:' ? url : undefined;
  } catch {
    return undefined;
  }
}

const databaseOf = (url: URL) => decodeURIComponent(url.pathname.replace(/^\//, ''));

/**
 * Reads provisioning's environment:
 *   DATABASE_ADMIN_URL                      required: admin URL of the CSDA database
 *   <SERVICE>_DATABASE_URL                  optional: the service's own URL; its user is the role, its password the role's password
 *   <SERVICE>_DATABASE_PASSWORD             optional: the role's password when the URL has none (or no URL is given)
 * with SERVICE = GATEWAY, VAULT, TOOL_RUNNER, DOCUMENT_INGEST, SEARCH, SCHEDULER. Without a URL the role is
 * csda_<service>; without a password an existing role keeps its own (a new one gets none: trust/peer/cert only).
 * Every problem names its variable and never shows a password.
 */
export function loadProvisionConfig(env: Env): ProvisionConfig {
  const problems: string[] = [];
  const adminRaw = env.DATABASE_ADMIN_URL;
  const admin = adminRaw ? parsePostgresUrl(adminRaw) : undefined;
  if (!adminRaw) problems.push('DATABASE_ADMIN_URL: missing (admin URL of the CSDA database, e.g. postgres://postgres@127.0.0.1:5432/csda)');
  else if (!admin) problems.push('DATABASE_ADMIN_URL: expected a postgres:// or postgresql:// URL');
  else if (!databaseOf(admin)) problems.push('DATABASE_ADMIN_URL: names no database (…/<database>)');
  const adminUser = admin ? decodeURIComponent(admin.username) || 'postgres' : undefined;

  const roles: RoleRequest[] = [];
  for (const service of DATABASE_SERVICES) {
    const prefix = serviceEnvPrefix(service.service);
    const urlVar = `${prefix}_DATABASE_URL`;
    const passwordVar = `${prefix}_DATABASE_PASSWORD`;
    let role = defaultRoleName(service.service);
    let password = env[passwordVar] || undefined;
    const raw = env[urlVar];
    if (raw) {
      const url = parsePostgresUrl(raw);
      if (!url) {
        problems.push(`${urlVar}: expected a postgres:// or postgresql:// URL`);
        continue;
      }
      role = decodeURIComponent(url.username);
      if (url.password) password = decodeURIComponent(url.password);
      if (admin && databaseOf(url) !== databaseOf(admin)) {
        problems.push(`${urlVar}: names database "${databaseOf(url)}", but DATABASE_ADMIN_URL provisions "${databaseOf(admin)}"`);
      }
    }
    const source = raw ? `${urlVar} (its user)` : `role ${role}`;
    if (!PG_ROLE_NAME.test(role)) problems.push(`${source}: role name must match ${PG_ROLE_NAME} (lowercase letters, digits, _; not pg_…)`);
    else if (role === adminUser) problems.push(`${source}: is the admin user of DATABASE_ADMIN_URL; each service needs its own unprivileged role`);
    else if (role === 'postgres') problems.push(`${source}: "postgres" is the superuser; each service needs its own unprivileged role`);
    if (password !== undefined && password.length < 12) problems.push(`${raw ? urlVar : passwordVar}: password shorter than 12 characters`);
    roles.push({ ...service, role, ...(password === undefined ? {} : { password }) });
  }
  const seen = new Map<string, string>();
  for (const r of roles) {
    const other = seen.get(r.role);
    if (other) problems.push(`${serviceEnvPrefix(r.service)}_DATABASE_URL: role ${r.role} is already the role of ${other}; every service needs its own`);
    seen.set(r.role, r.service);
  }

  const timeoutRaw = env.STARTUP_TIMEOUT_MS;
  const startupTimeoutMs = timeoutRaw ? Number(timeoutRaw) : 60_000;
  if (!Number.isInteger(startupTimeoutMs) || startupTimeoutMs < 0 || startupTimeoutMs > 3_600_000) {
    problems.push('STARTUP_TIMEOUT_MS: expected milliseconds between 0 and 3600000');
  }
  if (problems.length > 0 || !adminRaw) throw new ConfigError(problems);
  return Object.freeze({ adminUrl: adminRaw, roles, startupTimeoutMs });
}
