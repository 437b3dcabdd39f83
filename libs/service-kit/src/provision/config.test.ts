import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config.ts';
import { loadProvisionConfig } from './config.ts';

const admin = 'postgres://admin:admin-password@db.example:5432/csda';

function problems(env: Record<string, string>): string[] {
  try {
    loadProvisionConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('loadProvisionConfig', () => {
  it('defaults to csda_<service> roles without passwords', () => {
    const config = loadProvisionConfig({ DATABASE_ADMIN_URL: admin });
    expect(config.roles.map((r) => [r.service, r.role, r.schema, r.password])).toEqual([
      ['gateway', 'csda_gateway', 'identity', undefined],
      ['vault', 'csda_vault', 'vault', undefined],
      ['tool-runner', 'csda_tool_runner', 'tools', undefined],
      ['document-ingest', 'csda_document_ingest', 'ingest', undefined],
      ['search', 'csda_search', 'search', undefined],
      ['scheduler', 'csda_scheduler', 'scheduler', undefined],
    ]);
    expect(config.roles.find((r) => r.service === 'search')?.usesVector).toBe(true);
  });

  it("takes a role and its password from the service's URL (percent-decoded), or the password variable", () => {
    const config = loadProvisionConfig({
      DATABASE_ADMIN_URL: admin,
      VAULT_DATABASE_URL: 'postgres://vault_prod:p%40ss%3Aw0rd%2Flong@pgbouncer:6432/csda?sslmode=require',
      TOOL_RUNNER_DATABASE_PASSWORD: 'tool-runner-password',
    });
    expect(config.roles.find((r) => r.service === 'vault')).toMatchObject({ role: 'vault_prod', password: 'p@ss:w0rd/long' });
    expect(config.roles.find((r) => r.service === 'tool-runner')).toMatchObject({ role: 'csda_tool_runner', password: 'tool-runner-password' });
  });

  it('names every bad variable and never shows a password', () => {
    const found = problems({
      DATABASE_ADMIN_URL: 'postgres://admin:admin-password@db/csda',
      GATEWAY_DATABASE_URL: 'http://csda_gateway@db/csda',
      VAULT_DATABASE_URL: 'postgres://Vault:secret-secret-1@db/csda',
      SEARCH_DATABASE_URL: 'postgres://admin:secret-secret-2@db/csda',
      SCHEDULER_DATABASE_URL: 'postgres://csda_scheduler:tinypw1@db/csda',
      DOCUMENT_INGEST_DATABASE_URL: 'postgres://pg_monitor:secret-secret-3@db/csda',
      STARTUP_TIMEOUT_MS: 'soon',
    });
    expect(found).toEqual([
      'GATEWAY_DATABASE_URL: expected a postgres:// or postgresql:// URL',
      'VAULT_DATABASE_URL (its user): role name must match /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/ (lowercase letters, digits, _; not pg_…)',
      'DOCUMENT_INGEST_DATABASE_URL (its user): role name must match /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/ (lowercase letters, digits, _; not pg_…)',
      'SEARCH_DATABASE_URL (its user): is the admin user of DATABASE_ADMIN_URL; each service needs its own unprivileged role',
      'SCHEDULER_DATABASE_URL: password shorter than 12 characters',
      'STARTUP_TIMEOUT_MS: expected milliseconds between 0 and 3600000',
    ]);
    expect(found.join('\n')).not.toMatch(/secret-secret|admin-password|tinypw1/);
  });

  it('requires the admin URL with a database', () => {
    expect(problems({})).toEqual(['DATABASE_ADMIN_URL: missing (admin URL of the CSDA database, e.g. postgres://postgres@127.0.0.1:5432/csda)']);
    expect(problems({ DATABASE_ADMIN_URL: 'postgres://admin@db' })).toEqual(['DATABASE_ADMIN_URL: names no database (…/<database>)']);
  });
});
