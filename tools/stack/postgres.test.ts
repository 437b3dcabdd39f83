import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, query, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProvisioningVariable, prepareStackDatabase, stackDatabaseUrls } from './postgres.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NAMES = ['vault', 'tool-runner', 'document-ingest', 'search', 'scheduler', 'gateway'];

describe('stack database URLs', () => {
  it('keeps admin and provisioning variables away from services', () => {
    expect(['DATABASE_ADMIN_URL', 'VAULT_DATABASE_URL', 'TOOL_RUNNER_DATABASE_PASSWORD'].every(isProvisioningVariable)).toBe(true);
    expect(['DATABASE_URL', 'DATABASE_POOL_MAX', 'TEST_DATABASE_URL_X'].some(isProvisioningVariable)).toBe(false);
  });

  it('gives each service its own role with a password generated once, or the URL it was given', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'csda-stack-pg-'));
    try {
      const admin = 'postgres://postgres@127.0.0.1:5432/csda';
      const first = await stackDatabaseUrls(admin, { SEARCH_DATABASE_URL: 'postgres://mine:pw-of-my-own@db:5432/csda' }, dir);
      const again = await stackDatabaseUrls(admin, {}, dir);
      expect(new URL(first.get('vault')!).username).toBe('csda_vault');
      expect(new URL(first.get('vault')!).password).toMatch(/^[\w-]{32}$/);
      expect(again.get('vault')).toBe(first.get('vault'));
      expect(first.get('search')).toBe('postgres://mine:pw-of-my-own@db:5432/csda');
      expect(new Set([...again.values()].map((u) => new URL(u).password)).size).toBe(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("npm start's provisioning (real PostgreSQL)", () => {
  let db: TestDatabase;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'csda-stack-pg-'));
  beforeAll(async () => {
    db = await createTestDatabase('stack_pg');
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('provisions with the admin URL, then each service runs as its own role without any admin variable', async () => {
    const services = NAMES.map((name) => ({ name, env: { DATABASE_URL: db.url, DATABASE_ADMIN_URL: db.url, VAULT_DATABASE_PASSWORD: 'x'.repeat(20), LOG_LEVEL: 'info' } as Record<string, string> }));
    const line = await prepareStackDatabase(services, { env: { DATABASE_ADMIN_URL: db.url }, dataDir, root });
    expect(line).toContain('csda_vault');
    for (const svc of services) {
      expect(Object.keys(svc.env).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL']);
      expect(new URL(svc.env.DATABASE_URL!).username).toBe(`csda_${svc.name.replaceAll('-', '_')}`);
    }
    const vault = services.find((s) => s.name === 'vault')!.env.DATABASE_URL!;
    expect(await query(vault, 'select current_user as u')).toEqual([{ u: 'csda_vault' }]);
    await expect(query(vault, 'select 1 from identity.users')).rejects.toThrow(/permission denied for schema identity/);
    const [row] = await query<{ v: string }>(db.url, `select rolpassword as v from pg_authid where rolname = 'csda_vault'`);
    expect(row?.v).toMatch(/^SCRAM-SHA-256\$/);
  });
});
