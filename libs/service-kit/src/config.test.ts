import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, baseConfigShape, loadConfig, portVar } from './config.ts';

const schema = z.object({ ...baseConfigShape, RPC_PORT: portVar(50051) });

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults and returns a frozen object', () => {
    const config = loadConfig(schema, {});
    expect(config.RPC_PORT).toBe(50051);
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/csda');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad variable in one error', () => {
    const problems = problemsOf(() => loadConfig(schema, { RPC_PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' }));
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'RPC_PORT']);
    expect(problems.find((p) => p.startsWith('DATABASE_URL'))).toContain('postgres');
  });

  it('rejects out-of-range ports', () => {
    expect(problemsOf(() => loadConfig(schema, { RPC_PORT: '70000' }))[0]).toMatch(/^RPC_PORT:/);
  });

  it('requires connection settings to be explicit in production', () => {
    const problems = problemsOf(() => loadConfig(schema, { NODE_ENV: 'production' }));
    expect(problems).toContain('DATABASE_URL: required when NODE_ENV=production');
    expect(problems).toContain('NATS_URL: required when NODE_ENV=production');
    expect(problems).toContain('INTERNAL_VERIFY_KEYS: required when NODE_ENV=production');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig(schema, { RPC_PORT: '' }).RPC_PORT).toBe(50051);
  });

  it('does not echo values of bad variables (they may be secrets)', () => {
    const err = (() => {
      try {
        loadConfig(schema, { DATABASE_URL: 'not a url with hunter2' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toContain('DATABASE_URL');
    expect(err?.message).not.toContain('hunter2');
  });
});
