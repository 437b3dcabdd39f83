import { stat, readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateInternalKeyPair } from '@csda/auth';
import { ConfigError, loadConfig } from '@csda/service-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { assertServeConfig, configSchema, registrationEnabled, trustProxySetting } from './config.ts';
import { resolveJwtSecret } from './identity/auth/jwt-secret.ts';

const problems = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('gateway identity configuration', () => {
  it('has the documented defaults', () => {
    const cfg = loadConfig(configSchema, {});
    expect(cfg).toMatchObject({
      ACCESS_TOKEN_TTL_S: 900,
      REFRESH_TOKEN_TTL_S: 1_209_600,
      REFRESH_FAMILY_MAX_AGE_S: 2_592_000,
      REFRESH_REUSE_GRACE_S: 5,
      LOGIN_FREE_FAILURES: 5,
      LOGIN_BACKOFF_BASE_S: 1,
      LOGIN_BACKOFF_MAX_S: 900,
      LOGIN_ACCOUNT_FAILURE_CEILING: 50,
      LOGIN_MAX_FAILURES_PER_CLIENT: 100,
      LOGIN_RATE_WINDOW_S: 900,
      LOGIN_KNOWN_CLIENT_TTL_S: 2_592_000,
      LOGIN_CEILING_DELAY_MS: 1_000,
      REVOCATION_CACHE_MS: 2_000,
      TRUST_PROXY: 'false',
    });
    expect(cfg.JWT_SECRET).toBeUndefined();
  });

  it('turns registration on outside production and off in production, unless REGISTRATION_ENABLED says otherwise', () => {
    expect(registrationEnabled(loadConfig(configSchema, { NODE_ENV: 'development' }))).toBe(true);
    const verifyKeys = JSON.stringify([{ issuer: 'gateway', key: generateInternalKeyPair().publicKeyPem }]);
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/csda', NATS_URL: 'nats://nats:4222', INTERNAL_VERIFY_KEYS: verifyKeys };
    expect(registrationEnabled(loadConfig(configSchema, prod))).toBe(false);
    expect(registrationEnabled(loadConfig(configSchema, { ...prod, REGISTRATION_ENABLED: 'true' }))).toBe(true);
    expect(registrationEnabled(loadConfig(configSchema, { NODE_ENV: 'development', REGISTRATION_ENABLED: 'false' }))).toBe(false);
    expect(problems(() => loadConfig(configSchema, { REGISTRATION_ENABLED: 'maybe' }))[0]).toMatch(/^REGISTRATION_ENABLED: /);
  });

  it('names a short JWT_SECRET and bad numbers', () => {
    const found = problems(() => loadConfig(configSchema, { JWT_SECRET: 'x'.repeat(31), ACCESS_TOKEN_TTL_S: '5', LOGIN_MAX_FAILURES_PER_CLIENT: 'lots' }));
    expect(found).toContain('JWT_SECRET: must be at least 32 bytes');
    expect(found.some((p) => p.startsWith('ACCESS_TOKEN_TTL_S: '))).toBe(true);
    expect(found.some((p) => p.startsWith('LOGIN_MAX_FAILURES_PER_CLIENT: '))).toBe(true);
    expect(loadConfig(configSchema, { JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET).toHaveLength(32);
  });

  it('requires the JWT secret for serve in production only', () => {
    expect(problems(() => assertServeConfig({ NODE_ENV: 'production', JWT_SECRET: undefined }))).toEqual([
      'JWT_SECRET: required when NODE_ENV=production (at least 32 bytes)',
    ]);
    expect(problems(() => assertServeConfig({ NODE_ENV: 'development', JWT_SECRET: undefined }))).toEqual([]);
  });

  it('reads TRUST_PROXY as true, false or a list of addresses', () => {
    expect(trustProxySetting('true')).toBe(true);
    expect(trustProxySetting('false')).toBe(false);
    expect(trustProxySetting(loadConfig(configSchema, { TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).TRUST_PROXY)).toBe('10.0.0.0/8,127.0.0.1');
    expect(trustProxySetting(' 10.0.0.0/8 , fd00::/8,loopback ')).toBe('10.0.0.0/8,fd00::/8,loopback');
    expect(problems(() => loadConfig(configSchema, { TRUST_PROXY: 'everyone; rm -rf' }))[0]).toMatch(/^TRUST_PROXY: /);
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::/129', '10.0.0.0/8/1', '10.0.0.0/8,', '1.2.3.4/-1', '::g/64', '10.0.0.0/08x']) {
      expect(problems(() => loadConfig(configSchema, { TRUST_PROXY: bad }))[0], bad).toMatch(/^TRUST_PROXY: /);
    }
  });
});

describe('JWT secret resolution', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uses JWT_SECRET when set, and refuses to invent one in production', async () => {
    const warnings: string[] = [];
    expect(await resolveJwtSecret({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(40), CSDA_DATA_DIR: '/nonexistent' }, (m) => warnings.push(m))).toBe('s'.repeat(40));
    expect(warnings).toEqual([]);
    await expect(resolveJwtSecret({ NODE_ENV: 'production', JWT_SECRET: undefined, CSDA_DATA_DIR: '/nonexistent' }, () => undefined)).rejects.toBeInstanceOf(ConfigError);
  });

  it('generates one development secret (0600) that concurrent starts share, with a loud warning', async () => {
    dir = await mkdtemp(join(tmpdir(), 'csda-jwt-'));
    const warnings: string[] = [];
    const cfg = { NODE_ENV: 'development' as const, JWT_SECRET: undefined, CSDA_DATA_DIR: dir };
    const secrets = await Promise.all(Array.from({ length: 8 }, () => resolveJwtSecret(cfg, (m) => warnings.push(m))));
    expect(new Set(secrets).size).toBe(1);
    expect(Buffer.byteLength(secrets[0]!)).toBeGreaterThanOrEqual(32);
    const file = join(dir, 'dev-keys', 'jwt-secret');
    expect(await readFile(file, 'utf8')).toBe(secrets[0]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(warnings).toHaveLength(8);
    expect(warnings[0]).toMatch(/JWT_SECRET is not set.*DEVELOPMENT.*MUST set JWT_SECRET/);
    expect(warnings[0]).not.toContain(secrets[0]);
    expect(await resolveJwtSecret(cfg, () => undefined)).toBe(secrets[0]);
  });
});
