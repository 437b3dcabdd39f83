import { create } from '@bufbuild/protobuf';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { describe, expect, it } from 'vitest';
import { TARGET_TYPES, targetSchema, targetToJson, targetToProto } from './schedule-target.ts';

describe('schedule targets', () => {
  const secretId = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';

  it('round-trips every target type between REST and the proto oneof', () => {
    const samples = { rotate_secret: { type: 'rotate_secret', secret_id: secretId } } as const;
    expect(Object.keys(samples).sort()).toEqual([...TARGET_TYPES].sort());
    for (const sample of Object.values(samples)) {
      const parsed = targetSchema.parse(sample);
      expect(targetToJson(create(ScheduleTargetSchema, targetToProto(parsed)))).toEqual(sample);
    }
  });

  it('is a closed union: unknown types, missing or extra fields are refused', () => {
    for (const bad of [{ type: 'run_tool', tool_id: secretId }, { type: 'rotate_secret' }, { type: 'rotate_secret', secret_id: secretId, owner_id: 'x' }, { secret_id: secretId }, 'rotate_secret']) {
      expect(targetSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('shows a target the scheduler did not set (or one this gateway does not know) as null', () => {
    expect(targetToJson(undefined)).toBeNull();
    expect(targetToJson(create(ScheduleTargetSchema, {}))).toBeNull();
  });
});
