// npm start's PostgreSQL step: `provision` (libs/service-kit/src/provision)
// with the admin URL, then every service connects as its own role. Each role's
// development password is generated once under <data>/postgres-stack/passwords/
// (the machine's server trusts loopback, but a password server works too).
// A service whose <SERVICE>_DATABASE_URL is set uses that URL as it is.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readOrCreateDevFile } from '@csda/auth';
import { DATABASE_SERVICES, defaultRoleName, serviceEnvPrefix } from '@csda/service-kit';
import { describeExit, forget, spawnNode } from './processes.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Variables only provisioning may see: never passed on to a service. */
export function isProvisioningVariable(name: string): boolean {
  return name === 'DATABASE_ADMIN_URL' || /^[A-Z_]+_DATABASE_(URL|PASSWORD)$/.test(name);
}

/** `url` for another user and password (same server and database). */
export function urlFor(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** Each service's DATABASE_URL: its <SERVICE>_DATABASE_URL, or the admin URL as csda_<service> with its development password. */
export async function stackDatabaseUrls(adminUrl: string, env: Env, dataDir: string): Promise<Map<string, string>> {
  const urls = new Map<string, string>();
  for (const { service } of DATABASE_SERVICES) {
    const given = env[`${serviceEnvPrefix(service)}_DATABASE_URL`];
    if (given) {
      urls.set(service, given);
      continue;
    }
    const role = defaultRoleName(service);
    const password = (await readOrCreateDevFile(path.join(dataDir, 'postgres-stack', 'passwords'), role, () => randomBytes(24).toString('base64url'))).trim();
    urls.set(service, urlFor(adminUrl, role, password));
  }
  return urls;
}

/**
 * Provisions roles, schemas and grants with DATABASE_ADMIN_URL (default: the
 * stack's DATABASE_URL, postgres@127.0.0.1 here), then gives each service its
 * own DATABASE_URL and removes every admin/provisioning variable from its env.
 * Returns a line for the console.
 */
export async function prepareStackDatabase(
  services: readonly { name: string; env: Record<string, string> }[],
  opts: { env: Env; dataDir: string; root: string },
): Promise<string> {
  const adminUrl = opts.env.DATABASE_ADMIN_URL || services[0]?.env.DATABASE_URL;
  if (!adminUrl) throw new Error('no DATABASE_URL for the stack');
  const urls = await stackDatabaseUrls(adminUrl, opts.env, opts.dataDir);
  const provisionEnv: Record<string, string> = { PATH: process.env.PATH ?? '', DATABASE_ADMIN_URL: adminUrl, LOG_LEVEL: 'warn', STARTUP_TIMEOUT_MS: '15000' };
  for (const [service, url] of urls) provisionEnv[`${serviceEnvPrefix(service)}_DATABASE_URL`] = url;
  const child = spawnNode({
    name: 'provision',
    args: [path.join(opts.root, 'libs/service-kit/src/provision/main.ts')],
    env: provisionEnv,
    cwd: opts.root,
    onStdout: () => {},
    onStderr: () => {},
  });
  const info = await child.done;
  forget(child);
  if (info.code !== 0) {
    throw new Error(
      [
        `database provisioning failed (${describeExit(info)}):`,
        ...child.tail.lines.map((l) => `  ${l}`),
        '  It needs a role that may create roles and schemas: set DATABASE_ADMIN_URL to one (e.g. postgres://postgres@127.0.0.1:5432/csda),',
        '  or have a DBA run `node libs/service-kit/src/provision/main.ts print-sql` and set <SERVICE>_DATABASE_URL for each service.',
      ].join('\n'),
    );
  }
  for (const svc of services) {
    for (const name of Object.keys(svc.env)) if (isProvisioningVariable(name)) delete svc.env[name];
    const url = urls.get(svc.name);
    if (url) svc.env.DATABASE_URL = url;
  }
  return `postgres: provisioned, one role per service (${[...urls.values()].map((u) => decodeURIComponent(new URL(u).username)).join(', ')})`;
}
