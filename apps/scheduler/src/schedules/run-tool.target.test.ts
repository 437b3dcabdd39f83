import { create, fromJson, toJson, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { describe, expect, it } from 'vitest';
import { describeRefusal, RUN_TOOL_INPUT_MAX_BYTES } from './run-tool.target.ts';
import { targetFromProto, targetFromStored, targetToProto } from './targets.ts';
import { validationDetails } from '@csda/testing';

const TOOL = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

const runTool = (toolId: string, input?: unknown) =>
  create(ScheduleTargetSchema, { kind: { case: 'runTool', value: { toolId, ...(input === undefined ? {} : { input: fromJson(ValueSchema, input as JsonValue) }) } } });

describe('run_tool target', () => {
  it('maps the proto oneof to stored data and back, normalizing the id and keeping the input as JSON', () => {
    const input = { pattern: 'a+b', n: 3, nested: { list: [1, 'two', null, true] }, empty: {} };
    const target = targetFromProto(runTool(` ${TOOL.toUpperCase()} `, input));
    expect(target).toEqual({ type: 'run_tool', data: { tool_id: TOOL, input } });
    // Stored as jsonb and read back.
    expect(targetFromStored('run_tool', JSON.parse(JSON.stringify(target.data)))).toEqual(target);
    const back = targetToProto(target);
    expect(back.kind.case).toBe('runTool');
    const value = back.kind.case === 'runTool' ? back.kind.value : undefined;
    expect(value?.toolId).toBe(TOOL);
    expect(toJson(ValueSchema, value!.input!)).toEqual(input);
  });

  it('reads no input (or an empty Value) as the empty object, as ExecuteTool does', () => {
    expect(targetFromProto(runTool(TOOL))).toEqual({ type: 'run_tool', data: { tool_id: TOOL, input: {} } });
    const empty = create(ScheduleTargetSchema, { kind: { case: 'runTool', value: { toolId: TOOL, input: create(ValueSchema, {}) } } });
    expect(targetFromProto(empty).data).toEqual({ tool_id: TOOL, input: {} });
  });

  it('names target.tool_id for anything but a UUID', () => {
    for (const toolId of ['', 'abc', '../tools/x', "x' or 1=1 --", `${TOOL}0`, `${TOOL}\n`.repeat(2)]) {
      expect(validationDetails(() => targetFromProto(runTool(toolId, {})))).toEqual({ 'target.tool_id': 'a tool id (UUID)' });
    }
  });

  it('names target.input unless it is a JSON object, and both fields at once', () => {
    for (const input of [null, 'text', 42, true, [], [{ a: 1 }]]) {
      expect(validationDetails(() => targetFromProto(runTool(TOOL, input))), JSON.stringify(input)).toEqual({ 'target.input': 'a JSON object' });
    }
    expect(validationDetails(() => targetFromProto(runTool('nope', [1])))).toEqual({ 'target.tool_id': 'a tool id (UUID)', 'target.input': 'a JSON object' });
  });

  it('refuses an input too large to store with the schedule, counting bytes not characters', () => {
    const fits = { s: 'x'.repeat(RUN_TOOL_INPUT_MAX_BYTES - 10) };
    expect(targetFromProto(runTool(TOOL, fits)).data).toEqual({ tool_id: TOOL, input: fits });
    const tooBig = { s: 'é'.repeat(RUN_TOOL_INPUT_MAX_BYTES / 2) };
    expect(validationDetails(() => targetFromProto(runTool(TOOL, tooBig)))).toEqual({ 'target.input': `at most ${RUN_TOOL_INPUT_MAX_BYTES} bytes of JSON` });
  });

  it('refuses U+0000 anywhere (jsonb cannot hold it) but keeps a literal backslash-u text', () => {
    for (const input of [{ s: 'a\u0000b' }, { 'k\u0000': 1 }, { deep: [{ s: '\u0000' }] }]) {
      expect(validationDetails(() => targetFromProto(runTool(TOOL, input)))).toEqual({ 'target.input': 'no U+0000 characters in keys or strings' });
    }
    expect(targetFromProto(runTool(TOOL, { s: '\\u0000' })).data).toEqual({ tool_id: TOOL, input: { s: '\\u0000' } });
  });

  it('refuses stored rows that do not fit (a bug, not input)', () => {
    expect(() => targetFromStored('run_tool', {})).toThrow(TypeError);
    expect(() => targetFromStored('run_tool', { tool_id: TOOL })).toThrow(TypeError);
    expect(() => targetFromStored('run_tool', { tool_id: TOOL, input: [1] })).toThrow(TypeError);
    expect(() => targetFromStored('run_tool', null)).toThrow(TypeError);
  });

  it("words a refusal with the tool-runner's message, code and named fields, bounded", () => {
    expect(describeRefusal({ code: 'VALIDATION_ERROR', message: "Input does not match the tool's input_schema: n", details: { n: 'must be integer' } })).toBe(
      "the tool-runner refused: Input does not match the tool's input_schema: n (VALIDATION_ERROR; n: must be integer)",
    );
    expect(describeRefusal({ code: 'NOT_FOUND', message: `Tool ${TOOL} not found`, details: {} })).toBe(`the tool-runner refused: Tool ${TOOL} not found (NOT_FOUND)`);
    const long = describeRefusal({ code: 'VALIDATION_ERROR', message: 'x'.repeat(5_000), details: {} });
    expect(long).toHaveLength(1_000);
    expect(long.endsWith('…')).toBe(true);
  });
});
