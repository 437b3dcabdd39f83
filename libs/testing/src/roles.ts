import { runNode, type RunResult } from './run-node.ts';

/** The six services, each with its own PostgreSQL role. */
export const DATABASE_SERVICE_NAMES = ['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'] as const;
export type DatabaseServiceName = (typeof DATABASE_SERVICE_NAMES)[number];

/** The provisioning command of libs/service-kit (spawned: libs/testing cannot import the kit, which tests with it). */
export const PROVISION_ENTRY = 'libs/service-kit/src/provision/main.ts';

/** csda_vault, csda_tool_runner, … — the roles `provision` creates by default. */
export const serviceRole = (service: DatabaseServiceName) => `csda_${service.replaceAll('-', '_')}`;

/** `url` with its user (and password) replaced: the same database as another role. */
export function urlAs(url: string, user: string, password?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = password === undefined ? '' : encodeURIComponent(password);
  return u.toString();
}

/** Each service's DATABASE_URL for its own role on the database of `adminUrl`. */
export function serviceDatabaseUrls(adminUrl: string): Record<DatabaseServiceName, string> {
  return Object.fromEntries(DATABASE_SERVICE_NAMES.map((s) => [s, urlAs(adminUrl, serviceRole(s))])) as Record<DatabaseServiceName, string>;
}

export type ProvisionRun = RunResult;

/** Runs `provision` with exactly `env` added to this process's environment. */
export function runProvision(env: Record<string, string>, args: readonly string[] = [], timeoutMs = 60_000): Promise<ProvisionRun> {
  return runNode([PROVISION_ENTRY, ...args], env, timeoutMs);
}

/**
 * Provisions the per-service roles on a test database (`adminUrl`: a
 * superuser URL of it) the way the Helm hook Job does, from each service's
 * URL, and returns those URLs. Roles are cluster-wide and shared by every
 * test database (no passwords: the test server trusts loopback);
 * provisioning many databases at once is safe.
 */
export async function provisionTestDatabase(adminUrl: string): Promise<Record<DatabaseServiceName, string>> {
  const urls = serviceDatabaseUrls(adminUrl);
  const env: Record<string, string> = { DATABASE_ADMIN_URL: adminUrl, LOG_LEVEL: 'silent' };
  for (const [service, url] of Object.entries(urls)) env[`${service.toUpperCase().replaceAll('-', '_')}_DATABASE_URL`] = url;
  const result = await runProvision(env);
  if (result.code !== 0) throw new Error(`provision exited ${result.code}: ${result.stderr}${result.stdout}`);
  return urls;
}
