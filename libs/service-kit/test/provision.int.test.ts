import { randomBytes } from 'node:crypto';
import { createTestDatabase, freePort, query, runProvision, urlAs, type TestDatabase } from '@csda/testing';
import { Migration } from '@mikro-orm/migrations';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { assertConnected, migrate, openDatabase, type MigrationObject } from '../src/database.ts';
import { provisionDatabase, type RoleRequest } from '../src/provision/provision.ts';
import { scramSha256Verifier } from '../src/provision/scram.ts';
import { DATABASE_SERVICES, defaultRoleName } from '../src/provision/services.ts';
import { provisionScript } from '../src/provision/sql.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const defaults: RoleRequest[] = DATABASE_SERVICES.map((s) => ({ ...s, role: defaultRoleName(s.service) }));

async function withClient<T>(url: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await run(c);
  } finally {
    await c.end();
  }
}

const provision = (url: string, roles: readonly RoleRequest[] = defaults) => withClient(url, (c) => provisionDatabase(c, roles));

/** The error message of `sql` run as `role`, or 'ok'. */
async function attempt(db: TestDatabase, role: string, sql: string): Promise<string> {
  try {
    await query(urlAs(db.url, role), sql);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** has_schema_privilege(role, schema, 'USAGE') for every service role and schema. */
async function usageMatrix(db: TestDatabase, roles: readonly RoleRequest[]): Promise<Record<string, string[]>> {
  const matrix: Record<string, string[]> = {};
  for (const r of roles) {
    const rows = await query<{ schema: string }>(db.url, `select nspname as schema from pg_namespace where has_schema_privilege($1, oid, 'USAGE') and nspname not like 'pg_%' and nspname <> 'information_schema' order by 1`, [r.role]);
    matrix[r.role] = rows.map((x) => x.schema);
  }
  return matrix;
}

class CreateThings extends Migration {
  override up(): void {
    this.addSql('create table "tools"."things" ("id" serial primary key, "name" text not null)');
  }
}
class AddColour extends Migration {
  override up(): void {
    this.addSql('alter table "tools"."things" add column "colour" "tools"."colour"');
  }
}

describe('provision (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('kit_prov');
    await provision(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('gives every service role USAGE on its own schema only (plus the vector extension\'s schema for search)', async () => {
    const expected = Object.fromEntries(defaults.map((r) => [r.role, [...(r.usesVector ? ['public'] : []), r.schema].sort()]));
    expect(await usageMatrix(db, defaults)).toEqual(expected);
    const owners = await query<{ nspname: string; owner: string }>(db.url, `select nspname, nspowner::regrole::text as owner from pg_namespace where nspname = any($1) order by 1`, [defaults.map((r) => r.schema)]);
    expect(Object.fromEntries(owners.map((o) => [o.nspname, o.owner]))).toEqual(Object.fromEntries(defaults.map((r) => [r.schema, r.role])));
    const privileged = await query(db.url, `select rolname from pg_roles where rolname = any($1) and (rolsuper or rolcreaterole or rolcreatedb or rolbypassrls or rolreplication or not rolcanlogin)`, [defaults.map((r) => r.role)]);
    expect(privileged).toEqual([]);
  });

  it('refuses a service role reading, writing or creating in another service\'s schema', async () => {
    expect(await attempt(db, 'csda_vault', 'create table vault.secret_versions (secret_id uuid, ciphertext bytea)')).toBe('ok');
    expect(await attempt(db, 'csda_vault', `insert into vault.secret_versions values (gen_random_uuid(), '\\x01')`)).toBe('ok');
    for (const role of ['csda_search', 'csda_tool_runner', 'csda_document_ingest', 'csda_gateway', 'csda_scheduler']) {
      expect(await attempt(db, role, 'select * from vault.secret_versions')).toMatch(/permission denied for schema vault/);
      expect(await attempt(db, role, 'delete from vault.secret_versions')).toMatch(/permission denied for schema vault/);
      expect(await attempt(db, role, 'create table vault.planted (x int)')).toMatch(/permission denied for schema vault/);
      expect(await attempt(db, role, `create function vault.f() returns int language sql as 'select 1'`)).toMatch(/permission denied for schema vault/);
    }
    expect(await attempt(db, 'csda_vault', 'create table identity.users (id int)')).toMatch(/permission denied for schema identity/);
    // Granting itself in is refused too: only the owner (or a superuser) grants on a schema.
    expect(await attempt(db, 'csda_search', 'grant usage on schema vault to csda_search')).toMatch(/permission denied for schema vault/);
  });

  it('refuses every service role creating in public, creating schemas or temporary tables', async () => {
    for (const { role } of defaults) {
      expect(await attempt(db, role, 'create table public.planted (x int)')).toMatch(/permission denied for schema public/);
      expect(await attempt(db, role, 'create schema planted')).toMatch(/permission denied for database/);
      expect(await attempt(db, role, 'create temporary table t (x int)')).toMatch(/permission denied to create temporary tables/);
    }
  });

  it('lets search use the vector type and no other role', async () => {
    expect(await attempt(db, 'csda_search', `create table search.chunks (id int, embedding vector(3))`)).toBe('ok');
    expect(await attempt(db, 'csda_search', `select '[1,0,0]'::vector <=> '[0,1,0]'::vector`)).toBe('ok');
    expect(await attempt(db, 'csda_vault', `select '[1,0,0]'::public.vector`)).toMatch(/permission denied for schema public/);
  });

  it('lets search use pgvector installed in another schema, unqualified, with USAGE there and nowhere else', async () => {
    const other = await createTestDatabase('kit_prov_ext');
    try {
      await query(other.url, 'drop extension vector');
      await query(other.url, 'create schema extensions');
      await query(other.url, 'create extension vector schema extensions');
      await provision(other.url);
      expect(await attempt(other, 'csda_search', `create table search.chunks (id int, embedding vector(3)); select '[1,0,0]'::vector <=> '[0,1,0]'::vector`)).toBe('ok');
      expect(await attempt(other, 'csda_vault', `select '[1]'::extensions.vector`)).toMatch(/permission denied for schema extensions/);
      expect((await usageMatrix(other, defaults)).csda_search).toEqual(['extensions', 'search']);
    } finally {
      await other.drop();
    }
  });

  it('takes over a schema postgres created, with its objects, and migrate then works as the service role (upgrade path)', async () => {
    const old = await createTestDatabase('kit_prov_upgrade');
    try {
      const first: MigrationObject[] = [{ name: 'Migration1-things', class: CreateThings }];
      const asPostgres = await openDatabase({ url: old.url, schema: 'tools', entities: [], migrations: first, logger });
      try {
        await assertConnected(asPostgres);
        await migrate(asPostgres, old.url, 'tools');
      } finally {
        await asPostgres.close();
      }
      await query(old.url, `create type tools.colour as enum ('red', 'green')`);
      await query(old.url, `create domain tools.label as text check (value <> '')`);
      await query(old.url, 'create sequence tools.tickets');
      await query(old.url, `create function tools.touch() returns trigger language plpgsql as $$ begin new.name := upper(new.name); return new; end $$`);
      await query(old.url, 'create trigger things_touch before insert on tools.things for each row execute function tools.touch()');
      await query(old.url, 'create view tools.thing_names as select name from tools.things');
      await query(old.url, `insert into tools.things (name) values ('before')`);

      await provision(old.url);
      await provision(old.url); // idempotent

      const foreign = await query(
        old.url,
        `select 'class ' || relname as object from pg_class where relnamespace = 'tools'::regnamespace and relowner <> 'csda_tool_runner'::regrole
         union all select 'routine ' || proname from pg_proc where pronamespace = 'tools'::regnamespace and proowner <> 'csda_tool_runner'::regrole
         union all select 'type ' || typname from pg_type where typnamespace = 'tools'::regnamespace and typowner <> 'csda_tool_runner'::regrole`,
      );
      expect(foreign).toEqual([]);

      const both: MigrationObject[] = [...first, { name: 'Migration2-colour', class: AddColour }];
      const roleUrl = urlAs(old.url, 'csda_tool_runner');
      const asRole = await openDatabase({ url: roleUrl, schema: 'tools', entities: [], migrations: both, logger });
      try {
        await assertConnected(asRole);
        expect(await migrate(asRole, roleUrl, 'tools')).toEqual(['Migration2-colour']);
        expect(await migrate(asRole, roleUrl, 'tools')).toEqual([]);
      } finally {
        await asRole.close();
      }
      await query(roleUrl, `insert into tools.things (name, colour) values ('after', 'red')`);
      expect(await query(roleUrl, `select name, colour, nextval('tools.tickets') as ticket from tools.things order by id`)).toEqual([
        { name: 'BEFORE', colour: null, ticket: '1' },
        { name: 'AFTER', colour: 'red', ticket: '2' },
      ]);
    } finally {
      await old.drop();
    }
  });

  it('is safe when provisions race for the same new roles on several databases (roles are cluster-wide)', async () => {
    const tag = randomBytes(3).toString('hex');
    const roles: RoleRequest[] = DATABASE_SERVICES.map((s) => ({ ...s, role: `csda_race_${tag}_${s.service.replaceAll('-', '_')}` }));
    const dbs = await Promise.all([1, 2, 3].map((i) => createTestDatabase(`kit_race${i}`)));
    try {
      const runs = await Promise.allSettled(dbs.flatMap((d) => [provision(d.url, roles), provision(d.url, roles)]));
      expect(runs.filter((r) => r.status === 'rejected')).toEqual([]);
      for (const d of dbs) expect(Object.values(await usageMatrix(d, roles)).map((s) => s.length)).toEqual(roles.map((r) => (r.usesVector ? 2 : 1)));
    } finally {
      await Promise.all(dbs.map((d) => d.drop()));
      for (const r of roles) await query(db.url, `drop role if exists ${pg.escapeIdentifier(r.role)}`);
    }
  });

  it('sets passwords as SCRAM-SHA-256 verifiers in the format the server itself writes', async () => {
    const tag = randomBytes(3).toString('hex');
    const probe = `csda_scram_${tag}`;
    const password = `pä'ss\\wörd"$$-${tag}`;
    const own = await createTestDatabase('kit_prov_pw');
    try {
      await query(db.url, `set password_encryption = 'scram-sha-256'; create role ${probe} password ${pg.escapeLiteral(password)}`);
      const [server] = await query<{ v: string }>(db.url, 'select rolpassword as v from pg_authid where rolname = $1', [probe]);
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(server!.v) ?? [];
      expect(await scramSha256Verifier(password, { iterations: Number(iterations), salt: Buffer.from(salt!, 'base64') })).toBe(server!.v);

      const roles: RoleRequest[] = [{ ...DATABASE_SERVICES[1]!, role: `csda_pw_${tag}`, password }];
      await provision(own.url, roles);
      const [stored] = await query<{ v: string }>(db.url, 'select rolpassword as v from pg_authid where rolname = $1', [roles[0]!.role]);
      expect(stored!.v).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(stored!.v).not.toContain(password);
    } finally {
      await own.drop();
      await query(db.url, `drop role if exists ${probe}`);
      await query(db.url, `drop role if exists csda_pw_${tag}`);
    }
  });

  it('print-sql is a psql script that provisions a database exactly like the command', async () => {
    const fresh = await createTestDatabase('kit_prov_script');
    try {
      const printed = await runProvision({}, ['print-sql']);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout).toBe(provisionScript(defaults));
      await query(fresh.url, printed.stdout); // simple protocol: the whole script, BEGIN … COMMIT included
      expect(await usageMatrix(fresh, defaults)).toEqual(await usageMatrix(db, defaults));
    } finally {
      await fresh.drop();
    }
  });

  it('exits 78 naming the variable for bad configuration, never echoing a password', async () => {
    const bad = await runProvision({ DATABASE_ADMIN_URL: 'mysql://root@localhost/csda' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('DATABASE_ADMIN_URL: expected a postgres://');
    const mismatch = await runProvision({ DATABASE_ADMIN_URL: db.url, VAULT_DATABASE_URL: 'postgres://csda_vault:hunter2-hunter2-hunter2@127.0.0.1/other' });
    expect(mismatch.code).toBe(78);
    expect(mismatch.stderr).toMatch(/VAULT_DATABASE_URL: names database "other"/);
    const hostile = await runProvision({ DATABASE_ADMIN_URL: db.url, SEARCH_DATABASE_URL: `${urlAs(db.url, 'x";drop role postgres;--', 'hunter2-hunter2-hunter2')}` });
    expect(hostile.code).toBe(78);
    expect(hostile.stderr).toMatch(/SEARCH_DATABASE_URL \(its user\): role name must match/);
    const shared = await runProvision({ DATABASE_ADMIN_URL: db.url, VAULT_DATABASE_URL: urlAs(db.url, 'csda_x'), SEARCH_DATABASE_URL: urlAs(db.url, 'csda_x') });
    expect(shared.code).toBe(78);
    expect(shared.stderr).toMatch(/role csda_x is already the role of vault/);
    const superuser = await runProvision({ DATABASE_ADMIN_URL: db.url, VAULT_DATABASE_URL: urlAs(db.url, 'postgres') });
    expect(superuser.code).toBe(78);
    for (const run of [bad, mismatch, hostile, shared, superuser]) expect(run.stderr + run.stdout).not.toContain('hunter2');
  });

  it('exits 69 when the database stays unreachable, without the admin password in its output', async () => {
    const port = await freePort();
    const run = await runProvision({ DATABASE_ADMIN_URL: `postgres://admin:topsecret-topsecret@127.0.0.1:${port}/csda`, STARTUP_TIMEOUT_MS: '300' });
    expect(run.code).toBe(69);
    expect(run.stderr).toContain(`postgres at postgres://127.0.0.1:${port}/csda is unreachable`);
    expect(run.stderr + run.stdout).not.toContain('topsecret');
  });

  it('works for a database owner with CREATEROLE and no superuser (managed PostgreSQL), the extension pre-created', async () => {
    const dba = `csda_dba_${randomBytes(3).toString('hex')}`;
    await query(db.url, `create role ${dba} login createrole`);
    const managed = await createTestDatabase('kit_prov_managed'); // pgvector created by the superuser, as a cloud console does
    try {
      await query(managed.url, `alter database ${pg.escapeIdentifier(managed.name)} owner to ${dba}`);
      const run = await runProvision({ DATABASE_ADMIN_URL: urlAs(managed.url, dba), LOG_LEVEL: 'silent' });
      expect(run.code, run.stderr).toBe(0);
      expect(await usageMatrix(managed, defaults)).toEqual(await usageMatrix(db, defaults));
      expect(await attempt(managed, 'csda_search', 'select * from vault.secret_versions')).toMatch(/permission denied for schema vault/);
    } finally {
      await managed.drop();
      await query(db.url, `drop role ${dba}`);
    }
  });

  it('fails with a hint when the admin may not create roles', async () => {
    const weak = `csda_weak_${randomBytes(3).toString('hex')}`;
    await query(db.url, `create role ${weak} login`);
    try {
      await query(db.url, `grant connect on database ${pg.escapeIdentifier(db.name)} to ${weak}`);
      const run = await runProvision({ DATABASE_ADMIN_URL: urlAs(db.url, weak), VAULT_DATABASE_PASSWORD: 'hunter2-hunter2-hunter2', LOG_LEVEL: 'silent' });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/csda provision: .+: the user of DATABASE_ADMIN_URL must be a superuser, or own the database and have CREATEROLE/);
      expect(run.stderr + run.stdout).not.toContain('hunter2');
    } finally {
      await query(db.url, `revoke connect on database ${pg.escapeIdentifier(db.name)} from ${weak}`);
      await query(db.url, `drop role ${weak}`);
    }
  });

  it('provisions from the environment and reports each role without its password', async () => {
    const run = await runProvision({ DATABASE_ADMIN_URL: db.url, LOG_LEVEL: 'silent' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`provisioned vault: role csda_vault owns schema vault in ${db.name}`);
    expect(run.stdout.trim().split('\n')).toHaveLength(6);
  });
});
