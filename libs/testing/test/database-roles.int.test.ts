import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, query, type TestDatabase } from '../src/database.ts';
import { generateTestKeys } from '../src/keys.ts';
import { deleteNamespace, testNamespace } from '../src/nats.ts';
import { DATABASE_SERVICE_NAMES, provisionTestDatabase, serviceRole, urlAs, type DatabaseServiceName } from '../src/roles.ts';
import { runCommand } from '../src/stack.ts';

/**
 * The real services' migrations, each run by `migrate` as the service's own
 * role, then attacked as another service would: a compromised search or
 * tool-runner reading the vault, the vault reading users.
 */
describe('per-service PostgreSQL roles with the six services migrated', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let fresh: TestDatabase;
  let upgraded: TestDatabase;
  let urls: Record<DatabaseServiceName, string>;

  const migrateAll = async (roleUrls: Record<DatabaseServiceName, string>) => {
    const results = await Promise.all(
      DATABASE_SERVICE_NAMES.map((name) => runCommand(name, 'migrate', { ...keys.envFor(name), NODE_ENV: 'test', LOG_LEVEL: 'warn', NATS_NAMESPACE: namespace, DATABASE_URL: roleUrls[name] })),
    );
    results.forEach((r, i) => expect(r.code, `${DATABASE_SERVICE_NAMES[i]} migrate: ${r.stderr}${r.stdout}`).toBe(0));
  };
  const denied = async (url: string, sql: string) => {
    await expect(query(url, sql)).rejects.toThrow(/permission denied/);
  };

  beforeAll(async () => {
    fresh = await createTestDatabase('roles_fresh');
    urls = await provisionTestDatabase(fresh.url);
    await migrateAll(urls);
  }, 120_000);
  afterAll(async () => {
    await fresh?.drop();
    await upgraded?.drop();
    await deleteNamespace(namespace);
  });

  it('migrates every service on a fresh database as its own role, which then owns every object of its schema', async () => {
    const foreign = await query(
      fresh.url,
      `select n.nspname, c.relname, c.relowner::regrole::text as owner from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = any($1) and c.relowner <> n.nspowner`,
      [['identity', 'vault', 'tools', 'ingest', 'search', 'scheduler']],
    );
    expect(foreign).toEqual([]);
    const owners = await query<{ nspname: string; owner: string }>(fresh.url, `select nspname, nspowner::regrole::text as owner from pg_namespace where nspname in ('identity', 'vault', 'search') order by 1`);
    expect(owners).toEqual([
      { nspname: 'identity', owner: serviceRole('gateway') },
      { nspname: 'search', owner: serviceRole('search') },
      { nspname: 'vault', owner: serviceRole('vault') },
    ]);
    expect(await query(urls.vault, 'select count(*)::int as n from vault.secret_versions')).toEqual([{ n: 0 }]);
  });

  it("refuses the vault's role reading identity.users", async () => {
    await denied(urls.vault, 'select * from identity.users');
    await denied(urls.vault, 'select * from identity.refresh_tokens');
  });

  it("refuses the search role reading vault.secret_versions (and every other service's tables)", async () => {
    await denied(urls.search, 'select * from vault.secret_versions');
    await denied(urls.search, 'select * from identity.users');
    await denied(urls.search, 'select * from scheduler.job_runs');
  });

  it('refuses the tool-runner and document-ingest (which run untrusted code and files) the vault and identity', async () => {
    for (const name of ['tool-runner', 'document-ingest'] as const) {
      await denied(urls[name], 'select * from vault.secrets');
      await denied(urls[name], 'select ciphertext, wrapped_key from vault.secret_versions');
      await denied(urls[name], `update identity.users set password_hash = 'x'`);
      await denied(urls[name], `insert into identity.audit_log (event_id) values ('forged')`);
      await denied(urls[name], 'create table vault.planted (x int)');
      await denied(urls[name], 'create table public.planted (x int)');
    }
  });

  it("refuses the gateway's role the vault's secrets, though it owns identity", async () => {
    await denied(urls.gateway, 'select * from vault.secrets');
    expect(await query(urls.gateway, `select name from identity.roles order by 1`)).toEqual([{ name: 'ADMIN' }, { name: 'USER' }]);
  });

  it('upgrades an install whose schemas postgres owns: provision takes them over and migrate works as each role', async () => {
    upgraded = await createTestDatabase('roles_upgrade');
    const asPostgres = Object.fromEntries(DATABASE_SERVICE_NAMES.map((n) => [n, upgraded.url])) as Record<DatabaseServiceName, string>;
    await migrateAll(asPostgres); // the install before per-service roles: everything owned by postgres
    await query(upgraded.url, `insert into scheduler.job_runs (id, job, status, started_at) values (gen_random_uuid(), 'rotate-secrets', 'completed', now())`);
    expect((await query<{ o: string }>(upgraded.url, `select nspowner::regrole::text as o from pg_namespace where nspname = 'vault'`))[0]?.o).toBe('postgres');

    const roleUrls = await provisionTestDatabase(upgraded.url);
    await migrateAll(roleUrls);
    const owners = await query<{ nspname: string; owner: string }>(upgraded.url, `select nspname, nspowner::regrole::text as owner from pg_namespace where nspname = any($1) order by 1`, [
      ['identity', 'vault', 'tools', 'ingest', 'search', 'scheduler'],
    ]);
    expect(owners.map((o) => o.owner)).toEqual(['csda_gateway', 'csda_document_ingest', 'csda_scheduler', 'csda_search', 'csda_tool_runner', 'csda_vault']);
    const stillPostgres = await query(upgraded.url, `select c.relname from pg_class c where c.relnamespace = any(array['identity','vault','tools','ingest','search','scheduler']::regnamespace[]) and c.relowner = 'postgres'::regrole`);
    expect(stillPostgres).toEqual([]);
    expect(await query(roleUrls.scheduler, `select job from scheduler.job_runs`)).toEqual([{ job: 'rotate-secrets' }]);
    await query(roleUrls.vault, `insert into vault.secrets (id, owner_id, name) values (gen_random_uuid(), 'u1', 'after-upgrade')`);
    await denied(roleUrls.vault, 'select * from identity.users');
    await denied(urlAs(upgraded.url, serviceRole('search')), 'select * from vault.secret_versions');
  }, 120_000);
});
