import type { JsonObject, MessageInitShape } from '@bufbuild/protobuf';
import type { ScheduleTarget, ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { z } from 'zod';
import { jsonBytes, valueFromJson, valueToJson } from '../tools/tools.schemas.ts';

/** Largest fixed `input` of a run_tool schedule, as JSON text (the scheduler stores it with the schedule and checks the same). */
export const RUN_TOOL_INPUT_MAX_BYTES = 64 * 1024;

/**
 * What a schedule runs, in REST: `{"type": "rotate_secret", "secret_id": "…"}`
 * or `{"type": "run_tool", "tool_id": "…", "input": {…}}`
 * or `{"type": "reindex_document", "document_id": "…"}`.
 * A closed union: an issue that adds a target
 * adds its variant to `targetSchema` and one case to each function below,
 * and the proto oneof beside it. Nothing else in the gateway names targets.
 */
const rotateSecret = z.object({ type: z.literal('rotate_secret'), secret_id: z.uuid() }).strict().meta({ id: 'RotateSecretTarget', description: 'Rotate this secret (you must be able to rotate it)' });

const runTool = z
  .object({
    type: z.literal('run_tool'),
    tool_id: z.uuid(),
    input: z
      .record(z.string(), z.unknown())
      .default({})
      .refine((o) => jsonBytes(o) <= RUN_TOOL_INPUT_MAX_BYTES, { message: `input is at most ${RUN_TOOL_INPUT_MAX_BYTES} bytes of JSON` })
      .meta({ description: "The fixed input of every run, a JSON object; checked against the tool's input_schema when it runs" }),
  })
  .strict()
  .meta({
    id: 'RunToolTarget',
    description:
      'Execute this tool with this input, as you (tools:execute and tools:read; your own, public or shared with your roles). ' +
      "Each run's job_id is the execution id (GET /api/v1/tools/executions/{id}) and its status follows the execution: queued, running, then succeeded, or failed with the execution's error as the detail " +
      "(timed out and cancelled count as failed); a retried slot never starts a second execution. A refusal (tool gone, input invalid, your running limit) is the run's detail",
  });

const reindexDocument = z
  .object({ type: z.literal('reindex_document'), document_id: z.uuid() })
  .strict()
  .meta({
    id: 'ReindexDocumentTarget',
    description:
      'Reindex this document from its stored original as a new version, as you (documents:write and documents:read; only a document you own). ' +
      "Each run's job_id is `<document_id>:v<version>` and its detail names the version it queued; follow it with GET /api/v1/documents/{id}/status. " +
      'With overlap_policy forbid a slot is skipped while that version is still in the pipeline. A refusal (document gone, no longer yours) is the run\'s detail',
  });

export const targetSchema = z.discriminatedUnion('type', [rotateSecret, runTool, reindexDocument]).meta({ id: 'ScheduleTarget' });

export type TargetJson = z.infer<typeof targetSchema>;

/** The target types, for the `target_type` list filter. */
export const TARGET_TYPES = ['rotate_secret', 'run_tool', 'reindex_document'] as const satisfies readonly TargetJson['type'][];

export function targetToProto(target: TargetJson): MessageInitShape<typeof ScheduleTargetSchema> {
  switch (target.type) {
    case 'rotate_secret':
      return { kind: { case: 'rotateSecret', value: { secretId: target.secret_id } } };
    case 'run_tool':
      return { kind: { case: 'runTool', value: { toolId: target.tool_id, input: valueFromJson(target.input) } } };
    case 'reindex_document':
      return { kind: { case: 'reindexDocument', value: { documentId: target.document_id } } };
  }
}

/** The REST form of a stored target; null when the scheduler sent none (or one this gateway does not know yet). */
export function targetToJson(target: ScheduleTarget | undefined): TargetJson | null {
  switch (target?.kind.case) {
    case 'rotateSecret':
      return { type: 'rotate_secret', secret_id: target.kind.value.secretId };
    case 'runTool': {
      // The scheduler only stores objects; anything else would be a bug there, shown as the empty input.
      const input = valueToJson(target.kind.value.input);
      return { type: 'run_tool', tool_id: target.kind.value.toolId, input: input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as JsonObject) : {} };
    }
    case 'reindexDocument':
      return { type: 'reindex_document', document_id: target.kind.value.documentId };
    default:
      return null;
  }
}
