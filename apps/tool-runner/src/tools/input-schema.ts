import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ValidationError } from '@csda/errors';
import re2wasm from 're2-wasm';

// ajv-formats is CommonJS: its default export is the plugin.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const MAX_SCHEMA_BYTES = 64 * 1024;

/*
 * Schemas come from users and inputs from agents: a `pattern` such as
 * `^(a+)+$` would make a backtracking RegExp spin on a crafted input and stall
 * the service. RE2 (linear time, no backreferences or lookaround) runs every
 * pattern instead; one it cannot compile is refused when the tool is saved.
 */
const { RE2 } = re2wasm as unknown as { RE2: new (source: string, flags: string) => RegExp };
const linearRegExp = Object.assign((source: string, flags: string) => new RE2(source, flags.includes('u') ? flags : `${flags}u`), { code: 'new RE2' });

/**
 * Compiles tools' input schemas (JSON Schema draft-07 with ajv 8, strict: an
 * unknown keyword is refused, not ignored). Compiled validators are cached by
 * the schema's text, so each replica compiles a version once.
 */
export function createSchemaCompiler() {
  const ajv = addFormats(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: true, loadSchema: undefined, code: { regExp: linearRegExp } }));
  const cache = new Map<string, ValidateFunction>();

  function compile(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    const hit = cache.get(key);
    if (hit) return hit;
    if (key.length > MAX_SCHEMA_BYTES) throw new ValidationError('Invalid input_schema', { input_schema: `at most ${MAX_SCHEMA_BYTES} bytes of JSON` });
    let fn: ValidateFunction;
    try {
      // $id-less compile: nothing is registered globally, so tools cannot see each other's schemas.
      fn = ajv.compile({ ...schema, $id: undefined });
    } catch (err) {
      throw new ValidationError('Invalid input_schema', { input_schema: `does not compile: ${err instanceof Error ? err.message.slice(0, 300) : 'invalid schema'}` });
    }
    if (cache.size > 2_000) cache.clear();
    cache.set(key, fn);
    return fn;
  }

  return {
    /** Throws ValidationError naming `input_schema` when the schema is not an object schema that compiles. */
    check(schema: unknown): Record<string, unknown> {
      if (schema === undefined || schema === null) return { type: 'object' };
      if (typeof schema !== 'object' || Array.isArray(schema)) throw new ValidationError('Invalid input_schema', { input_schema: 'a JSON Schema object' });
      const s = schema as Record<string, unknown>;
      if (Object.keys(s).length === 0) return { type: 'object' };
      if (s.type !== 'object') throw new ValidationError('Invalid input_schema', { input_schema: 'type must be "object" (the input is a JSON object)' });
      if ('$ref' in s || '$id' in s) throw new ValidationError('Invalid input_schema', { input_schema: 'top-level $ref / $id are not supported' });
      compile(s);
      return s;
    },
    /** The input's violations, by JSON pointer path (`/count`, `/` for the root); empty when it is valid. */
    violations(schema: Record<string, unknown>, input: unknown): Record<string, string> {
      const fn = compile(schema);
      if (fn(input)) return {};
      const out: Record<string, string> = {};
      for (const e of fn.errors ?? []) {
        const missing = e.keyword === 'required' ? `/${String((e.params as { missingProperty?: string }).missingProperty ?? '')}` : '';
        const path = `input${(e.instancePath + missing).replaceAll('/', '.')}`;
        out[path] ??= e.message ?? 'invalid';
        if (Object.keys(out).length >= 20) break;
      }
      return out;
    },
  };
}

export type SchemaCompiler = ReturnType<typeof createSchemaCompiler>;
