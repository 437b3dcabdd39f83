import { create } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { ExecutionSchema, ToolSchema } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { describe, expect, it } from 'vitest';
import { CONFIG_MAX_BYTES, createToolBody, executeBody, executionToJson, INPUT_MAX_BYTES, isEmptyPatch, mergeToolPatch, updateToolBody, valueFromJson, valueToJson } from './tools.schemas.ts';

const SECRET = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';

describe('tool schemas', () => {
  it('bounds config and input by their JSON size in bytes (multi-byte characters count as bytes)', () => {
    const base = { name: 'n', tool_type: 'python_script' };
    // 'é' is 2 bytes: half the limit in characters is just over it in bytes.
    expect(createToolBody.safeParse({ ...base, config: { code: 'é'.repeat(CONFIG_MAX_BYTES / 2) } }).success).toBe(false);
    expect(createToolBody.safeParse({ ...base, config: { code: 'x'.repeat(CONFIG_MAX_BYTES - 20) } }).success).toBe(true);
    expect(executeBody.safeParse({ input: 'é'.repeat(INPUT_MAX_BYTES / 2) }).success).toBe(false);
    expect(executeBody.safeParse({ input: 'x'.repeat(INPUT_MAX_BYTES - 10) }).success).toBe(true);
  });

  it('accepts exactly the three secret targets', () => {
    const grant = (as: string) => createToolBody.safeParse({ name: 'n', tool_type: 'api_call', secrets: [{ secret_id: SECRET, as }] }).success;
    for (const ok of ['env:API_KEY', 'env:_x1', 'header:Authorization', 'header:X-Api-Key', 'datasource']) expect(grant(ok), ok).toBe(true);
    for (const bad of ['env:', 'env:1X', 'env:A B', 'env:A=B', 'header:', 'header:A:B', 'header:A\nB', 'datasource2', 'Datasource', 'file:/x', '']) expect(grant(bad), bad).toBe(false);
  });

  it('merges a patch field by field, whole values replaced, and knows an empty one', () => {
    const current = create(ToolSchema, { id: 't', name: 'a', toolType: 'python_script', config: { code: 'print(1)', extra: 1 }, timeoutS: 30, maxOutputBytes: 10n, secrets: [{ secretId: SECRET, as: 'env:K' }], sharedWithRoles: ['R'], version: 2 });
    const merged = mergeToolPatch(current, updateToolBody.parse({ config: { code: 'print(2)' }, max_output_bytes: 99 }));
    expect(merged).toMatchObject({ name: 'a', toolType: 'python_script', config: { code: 'print(2)' }, timeoutS: 30, maxOutputBytes: 99n, secrets: [{ secretId: SECRET, as: 'env:K' }], sharedWithRoles: ['R'] });
    expect(merged.config).not.toHaveProperty('extra');
    expect(isEmptyPatch(updateToolBody.parse({}))).toBe(true);
    expect(isEmptyPatch(updateToolBody.parse({ expected_version: 2 }))).toBe(true);
    expect(isEmptyPatch(updateToolBody.parse({ network: false }))).toBe(false);
  });

  it('round-trips any JSON value through google.protobuf.Value; an empty Value is null', () => {
    for (const v of [{ a: [1, 'x', null, { b: false }] }, [], 'text', 0, -1.5, true, null]) expect(valueToJson(valueFromJson(v))).toEqual(v);
    expect(valueToJson(create(ValueSchema, {}))).toBeNull();
    expect(valueToJson(undefined)).toBeNull();
  });

  it('renders an execution with nulls for what is not there yet', () => {
    const e = executionToJson(create(ExecutionSchema, { id: 'e', toolId: 't', status: 'queued', createdAtMs: 1_000n, error: { code: '', message: '' } }));
    expect(e).toMatchObject({ input: null, output: null, error: null, exit_code: null, started_at: null, completed_at: null, duration_ms: null, created_at: new Date(1_000).toISOString() });
  });
});
