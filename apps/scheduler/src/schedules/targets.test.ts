import { create } from '@bufbuild/protobuf';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { describe, expect, it } from 'vitest';
import { TARGET_TYPES, targetFromProto, targetFromStored, targetToProto } from './targets.ts';
import { validationDetails } from '@csda/testing';

describe('schedule targets', () => {
  it('is a closed union: rotate_secret, run_tool and reindex_document', () => {
    expect(TARGET_TYPES).toEqual(['rotate_secret', 'run_tool', 'reindex_document']);
  });

  it('maps the proto oneof to stored data and back, normalizing the id', () => {
    const id = '0F8FAD5B-D9CB-469F-A165-70867728950E';
    const target = targetFromProto(create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId: ` ${id} ` } } }));
    expect(target).toEqual({ type: 'rotate_secret', data: { secret_id: id.toLowerCase() } });
    expect(targetFromStored('rotate_secret', JSON.parse(JSON.stringify(target.data)))).toEqual(target);
    expect(targetToProto(target).kind).toEqual({ case: 'rotateSecret', value: expect.objectContaining({ secretId: id.toLowerCase() }) });
  });

  it('names target when the oneof is missing or empty, target.secret_id when the id is not a UUID', () => {
    expect(validationDetails(() => targetFromProto(undefined))).toEqual({ target: 'required: one of rotate_secret, run_tool, reindex_document' });
    expect(validationDetails(() => targetFromProto(create(ScheduleTargetSchema, {})))).toEqual({ target: 'required: one of rotate_secret, run_tool, reindex_document' });
    for (const secretId of ['', 'abc', '../../secrets', "x' or 1=1 --", `${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(13)}`]) {
      expect(validationDetails(() => targetFromProto(create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId } } })))).toEqual({ 'target.secret_id': 'a secret id (UUID)' });
    }
  });

  it('refuses stored rows that do not fit (a bug, not input)', () => {
    expect(() => targetFromStored('delete_everything', {})).toThrow(TypeError);
    expect(() => targetFromStored('rotate_secret', { secretId: 'camel' })).toThrow(TypeError);
  });
});
