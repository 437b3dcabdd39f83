import { PERMISSIONS, SEEDED_ROLES } from '@csda/auth';
import { createLogger, migrate, openDatabase } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, query, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition } from '../src/definition.ts';

const permissionsOf = async (db: TestDatabase) =>
  Object.fromEntries((await query<{ name: string; permissions: string[] }>(db.url, 'select name, permissions from identity.roles order by name')).map((r) => [r.name, r.permissions]));

/**
 * A database migrated before jobs and alerts existed: `migrate` gives its
 * seeded roles the new permissions (ADMIN all three, USER jobs:read and
 * alerts:read), once, keeping what an operator changed.
 */
describe('seeded roles gain jobs and alerts permissions on an existing database', () => {
  const namespace = testNamespace();
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('role_perms');
    // The schema as the releases before this one left it.
    const before = definition.migrations.filter((m) => m.name < 'Migration20261203000000');
    const orm = await openDatabase({ url: db.url, schema: 'identity', entities: definition.entities, migrations: before, logger: createLogger({ service: 'gateway', level: 'silent' }) });
    try {
      await migrate(orm, db.url, 'identity');
    } finally {
      await orm.close();
    }
    // An operator's own change since: USER may read the audit log here.
    await query(db.url, `update identity.roles set permissions = permissions || '{audit:read}' where name = 'USER'`);
  });

  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('before: neither role has them', async () => {
    const roles = await permissionsOf(db);
    for (const p of ['jobs:read', 'alerts:read', 'alerts:admin']) {
      expect(roles.ADMIN).not.toContain(p);
      expect(roles.USER).not.toContain(p);
    }
  });

  it('after migrate: ADMIN holds every permission, USER the seeded set plus the operator\'s addition, each once; running it again changes nothing', async () => {
    const env = { DATABASE_URL: db.url, NATS_URL: natsUrl(), NATS_NAMESPACE: namespace, NODE_ENV: 'test', LOG_LEVEL: 'warn' };
    const first = await runCommand('gateway', 'migrate', env);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const roles = await permissionsOf(db);
    expect([...roles.ADMIN!].sort()).toEqual([...PERMISSIONS].sort());
    const user = SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions;
    expect([...roles.USER!].sort()).toEqual([...user, 'audit:read'].sort());
    expect(roles.USER).not.toContain('alerts:admin');
    expect(new Set(roles.USER).size).toBe(roles.USER!.length);

    const again = await runCommand('gateway', 'migrate', env);
    expect(again.code, again.stderr).toBe(0);
    expect(await permissionsOf(db)).toEqual(roles);
  });
});
