import { create } from '@bufbuild/protobuf';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { describe, expect, it } from 'vitest';
import { RUN_TOOL_INPUT_MAX_BYTES, TARGET_TYPES, targetSchema, targetToJson, targetToProto } from './schedule-target.ts';

describe('schedule targets', () => {
  const secretId = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';

  it('round-trips every target type between REST and the proto oneof', () => {
    const samples = {
      rotate_secret: { type: 'rotate_secret', secret_id: secretId },
      run_tool: { type: 'run_tool', tool_id: secretId, input: { pattern: 'a+', n: 3, nested: { list: [1, 'x', null, false] } } },
      reindex_document: { type: 'reindex_document', document_id: secretId },
    } as const;
    expect(Object.keys(samples).sort()).toEqual([...TARGET_TYPES].sort());
    for (const sample of Object.values(samples)) {
      const parsed = targetSchema.parse(sample);
      expect(targetToJson(create(ScheduleTargetSchema, targetToProto(parsed)))).toEqual(sample);
    }
  });

  it('run_tool: input defaults to {}, must be an object of bounded size', () => {
    expect(targetSchema.parse({ type: 'run_tool', tool_id: secretId })).toEqual({ type: 'run_tool', tool_id: secretId, input: {} });
    for (const input of [null, [], [1], 'x', 3, true]) {
      expect(targetSchema.safeParse({ type: 'run_tool', tool_id: secretId, input }).success, JSON.stringify(input)).toBe(false);
    }
    expect(targetSchema.safeParse({ type: 'run_tool', tool_id: secretId, input: { s: 'x'.repeat(RUN_TOOL_INPUT_MAX_BYTES - 10) } }).success).toBe(true);
    expect(targetSchema.safeParse({ type: 'run_tool', tool_id: secretId, input: { s: 'é'.repeat(RUN_TOOL_INPUT_MAX_BYTES / 2) } }).success).toBe(false);
    expect(targetSchema.safeParse({ type: 'run_tool', tool_id: 'tool-1', input: {} }).success).toBe(false);
  });

  it('is a closed union: unknown types, missing or extra fields are refused', () => {
    const bad = [
      { type: 'delete_everything', tool_id: secretId },
      { type: 'rotate_secret' },
      { type: 'rotate_secret', secret_id: secretId, owner_id: 'x' },
      { type: 'rotate_secret', tool_id: secretId },
      { type: 'run_tool', secret_id: secretId },
      { type: 'run_tool', tool_id: secretId, input: {}, wait: true },
      { type: 'reindex_document' },
      { type: 'reindex_document', document_id: 'doc-1' },
      { type: 'reindex_document', document_id: secretId, version: 2 },
      { type: 'reindex_document', tool_id: secretId },
      { secret_id: secretId },
      'rotate_secret',
    ];
    for (const target of bad) {
      expect(targetSchema.safeParse(target).success, JSON.stringify(target)).toBe(false);
    }
  });

  it('shows a target the scheduler did not set (or one this gateway does not know) as null', () => {
    expect(targetToJson(undefined)).toBeNull();
    expect(targetToJson(create(ScheduleTargetSchema, {}))).toBeNull();
  });
});
