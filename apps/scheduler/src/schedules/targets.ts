import { ValidationError } from '@csda/errors';
import type { ScheduleTarget } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { reindexDocument, type ReindexDocumentData } from './reindex-document.target.ts';
import { rotateSecret, type RotateSecretData } from './rotate-secret.target.ts';
import { runTool, type RunToolData } from './run-tool.target.ts';
import type { FireContext, FireOutcome, Owner, TargetCase, TargetDefinition, TargetDeps } from './target.types.ts';

export { TargetUnavailableError, type FireContext, type FireOutcome, type Owner, type RotationJob, type TargetDeps } from './target.types.ts';

/**
 * What a schedule runs: a closed union, defined here and nowhere else. A new
 * target is one more entry in {@link TARGETS} (its
 * definition in its own `<name>.target.ts`) plus its case in the proto oneof
 * and the schedules table's CHECK (a migration).
 */
interface TargetData {
  rotate_secret: RotateSecretData;
  run_tool: RunToolData;
  reindex_document: ReindexDocumentData;
}

export type TargetType = keyof TargetData;
export type Target = { [K in TargetType]: { readonly type: K; readonly data: TargetData[K] } }[TargetType];

/** A definition of data `D` for whichever oneof case it maps to. */
type DefinitionOf<D> = { [C in TargetCase]: TargetDefinition<D, C> }[TargetCase];

const TARGETS: { readonly [K in TargetType]: DefinitionOf<TargetData[K]> } = {
  rotate_secret: rotateSecret,
  run_tool: runTool,
  reindex_document: reindexDocument,
};

export const TARGET_TYPES = Object.keys(TARGETS) as TargetType[];

// The union's handlers, erased to one signature (each entry is checked against its own type above).
const definitionOf = (type: TargetType) => TARGETS[type] as unknown as TargetDefinition<TargetData[TargetType]>;

/** Proto oneof → target; a missing or unknown case is a 422 naming `target`. */
export function targetFromProto(target: ScheduleTarget | undefined): Target {
  const kind = target?.kind;
  const type = TARGET_TYPES.find((t) => TARGETS[t].protoCase === kind?.case);
  if (!kind?.case || !type) throw new ValidationError('Invalid target', { target: `required: one of ${TARGET_TYPES.join(', ')}` });
  return { type, data: definitionOf(type).fromProto(kind.value) } as Target;
}

export function targetToProto(target: Target): ScheduleTarget {
  return definitionOf(target.type).toProto(target.data);
}

/** A stored (target_type, target jsonb) pair → target. */
export function targetFromStored(type: string, json: unknown): Target {
  if (!(TARGET_TYPES as string[]).includes(type)) throw new TypeError(`unknown stored target type "${type}"`);
  return { type, data: definitionOf(type as TargetType).parseStored(json) } as Target;
}

export function authorizeTarget(deps: TargetDeps, owner: Owner, target: Target): Promise<void> {
  return definitionOf(target.type).authorize(deps, owner, target.data);
}

export function fireTarget(deps: TargetDeps, ctx: FireContext, target: Target): Promise<FireOutcome> {
  return definitionOf(target.type).fire(deps, ctx, target.data);
}

/**
 * Whether the work of a previous run (`jobId`, no job record of the
 * scheduler's) is still going: a description, or undefined (finished, gone,
 * or a target whose jobs are all recorded by the scheduler).
 */
export function targetRunning(deps: TargetDeps, owner: Owner, target: Target, jobId: string): Promise<string | undefined> {
  const running = definitionOf(target.type).running;
  return running ? running(deps, owner, target.data, jobId) : Promise.resolve(undefined);
}
