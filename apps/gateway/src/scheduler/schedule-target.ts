import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ScheduleTarget, ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { z } from 'zod';

/**
 * What a schedule runs, in REST: `{"type": "rotate_secret", "secret_id": "…"}`.
 * A closed union: an issue that adds a target (run_tool, reindex_document)
 * adds its variant to `targetSchema` and one case to each function below,
 * and the proto oneof beside it. Nothing else in the gateway names targets.
 */
const rotateSecret = z.object({ type: z.literal('rotate_secret'), secret_id: z.uuid() }).strict().meta({ id: 'RotateSecretTarget', description: 'Rotate this secret (you must be able to rotate it)' });

export const targetSchema = z.discriminatedUnion('type', [rotateSecret]).meta({ id: 'ScheduleTarget' });

export type TargetJson = z.infer<typeof targetSchema>;

/** The target types, for the `target_type` list filter. */
export const TARGET_TYPES = ['rotate_secret'] as const satisfies readonly TargetJson['type'][];

export function targetToProto(target: TargetJson): MessageInitShape<typeof ScheduleTargetSchema> {
  switch (target.type) {
    case 'rotate_secret':
      return { kind: { case: 'rotateSecret', value: { secretId: target.secret_id } } };
  }
}

/** The REST form of a stored target; null when the scheduler sent none (or one this gateway does not know yet). */
export function targetToJson(target: ScheduleTarget | undefined): TargetJson | null {
  switch (target?.kind.case) {
    case 'rotateSecret':
      return { type: 'rotate_secret', secret_id: target.kind.value.secretId };
    default:
      return null;
  }
}
