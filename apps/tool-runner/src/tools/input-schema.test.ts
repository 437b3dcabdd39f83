import { describe, expect, it } from 'vitest';
import { ValidationError } from '@csda/errors';
import { createSchemaCompiler } from './input-schema.ts';

describe('input schemas', () => {
  const schemas = createSchemaCompiler();

  it('names the failing paths', () => {
    const schema = schemas.check({ type: 'object', required: ['n'], properties: { n: { type: 'integer' }, e: { type: 'string', format: 'email' } }, additionalProperties: false });
    expect(schemas.violations(schema, { n: 1 })).toEqual({});
    expect(Object.keys(schemas.violations(schema, { e: 'x', z: 1 })).sort()).toEqual(['input', 'input.e', 'input.n']);
  });

  it('runs patterns in linear time: a catastrophic-backtracking pattern on a hostile input returns at once', () => {
    const schema = schemas.check({ type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } });
    const started = performance.now();
    expect(Object.keys(schemas.violations(schema, { s: `${'a'.repeat(5_000)}!` }))).toEqual(['input.s']);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses schemas that do not compile, unknown keywords, non-object roots and patterns RE2 cannot run', () => {
    for (const bad of [{ type: 'object', properties: { x: { type: 'strin' } } }, { type: 'object', nope: 1 }, { type: 'string' }, [], { type: 'object', properties: { s: { type: 'string', pattern: '(a)\\1' } } }]) {
      expect(() => schemas.check(bad), JSON.stringify(bad)).toThrow(ValidationError);
    }
    expect(schemas.check(undefined)).toEqual({ type: 'object' });
  });
});
