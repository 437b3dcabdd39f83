import { create, fromJson, toJson, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type CallOptions } from '@connectrpc/connect';
import { describeConnectError, ExternalServiceError, ValidationError, type DescribedError } from '@csda/errors';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { TargetUnavailableError, UUID, type Owner, type TargetDefinition, type TargetDeps } from './target.types.ts';

export interface RunToolData {
  tool_id: string;
  /** The fixed input of every run, a JSON object (the tool-runner checks it against the tool's input_schema). */
  input: JsonObject;
}

/** Largest fixed input, as JSON text: it is stored with the schedule and listed with it. */
export const RUN_TOOL_INPUT_MAX_BYTES = 64 * 1024;

/** What the owner must hold for the scheduler to act for them on a tool: run it, and read it and its executions. */
const NEEDED = ['tools:execute', 'tools:read'] as const;

/** Envelope codes that mean "the tool-runner could not answer now": the loop keeps the slot and retries. */
const RETRIED: ReadonlySet<string> = new Set(['EXTERNAL_SERVICE_ERROR', 'INTERNAL_ERROR', 'DATABASE_ERROR']);
const FINISHED_EXECUTION: ReadonlySet<string> = new Set(['completed', 'failed', 'timed_out', 'cancelled']);
const MAX_DETAIL = 1_000;

function permissionProblem(owner: Owner): string | undefined {
  const missing = NEEDED.filter((p) => !owner.permissions.includes(p));
  return missing.length > 0 ? `running a tool on a schedule needs ${missing.join(' and ')}` : undefined;
}

/** The scheduler acting for the owner, allowed exactly this tool: execute it, read it and its executions. */
const asOwner = (deps: TargetDeps, owner: Owner, toolId: string): Promise<CallOptions> =>
  deps.asUser({ id: owner.id, name: owner.name, roles: [...owner.roles] }, [['tools:execute', toolId], ['tools:read', toolId]], 'tool-runner');

/** PostgreSQL's jsonb (and text) cannot hold U+0000, in a key or a string. */
function hasNul(value: JsonValue): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value !== null && typeof value === 'object') return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v));
  return false;
}

/** Problem with a fixed input, or undefined. */
function inputProblem(input: JsonValue): string | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return 'a JSON object';
  if (Buffer.byteLength(JSON.stringify(input)) > RUN_TOOL_INPUT_MAX_BYTES) return `at most ${RUN_TOOL_INPUT_MAX_BYTES} bytes of JSON`;
  if (hasNul(input)) return 'no U+0000 characters in keys or strings';
  return undefined;
}

/**
 * How a refusal of the tool-runner reads on the run: its own message, its
 * envelope code and the fields it named, e.g. `the tool-runner refused: Input
 * does not match the tool's input_schema: n (VALIDATION_ERROR; n: must be integer)`.
 */
export function describeRefusal(d: DescribedError): string {
  const fields = Object.entries(d.details).map(([k, v]) => `${k}: ${v}`);
  const text = `the tool-runner refused: ${d.message} (${[d.code, ...fields].join('; ')})`;
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

/** A Connect failure of the tool-runner: a refusal to record, or TargetUnavailableError (the slot is retried). */
function classify(err: unknown): DescribedError {
  if (!(err instanceof ConnectError)) throw err;
  const described = describeConnectError(err);
  if (RETRIED.has(described.code)) throw new TargetUnavailableError(`the tool-runner did not answer (${Code[err.code] ?? 'error'})`, err);
  return described;
}

/** ExecuteTool's idempotency key of one slot of a schedule. */
export const slotKey = (scheduleId: string, scheduledFor: Date) => `schedule:${scheduleId}:${scheduledFor.getTime()}`;

/**
 * run_tool: execute a tool with a fixed input as the owner (ExecuteTool, wait
 * false, keyed by the slot); the run records the execution id, which is also
 * the job id of the JobResults the tool-runner reports for it (folded into a
 * job record, so the run reads running, then succeeded or failed).
 */
export const runTool: TargetDefinition<RunToolData, 'runTool'> = {
  protoCase: 'runTool',
  fromProto(value) {
    const details: Record<string, string> = {};
    const toolId = value.toolId.trim().toLowerCase();
    if (!UUID.test(toolId)) details['target.tool_id'] = 'a tool id (UUID)';
    // No input (or an empty Value) is the empty object, as ExecuteTool reads it.
    const input = value.input && value.input.kind.case !== undefined ? toJson(ValueSchema, value.input) : {};
    const problem = inputProblem(input);
    if (problem) details['target.input'] = problem;
    if (Object.keys(details).length > 0) throw new ValidationError('Invalid target', details);
    return { tool_id: toolId, input: input as JsonObject };
  },
  toProto(data) {
    return create(ScheduleTargetSchema, { kind: { case: 'runTool', value: { toolId: data.tool_id, input: fromJson(ValueSchema, data.input) } } });
  },
  parseStored(json) {
    const { tool_id: toolId, input } = (json ?? {}) as { tool_id?: unknown; input?: unknown };
    if (typeof toolId !== 'string' || input === null || typeof input !== 'object' || Array.isArray(input)) throw new TypeError('stored run_tool target without tool_id or an object input');
    return { tool_id: toolId, input: input as JsonObject };
  },
  async authorize(deps, owner, data) {
    const problem = permissionProblem(owner);
    if (problem) throw new ValidationError('Invalid target', { 'target.tool_id': problem });
    try {
      await deps.toolRunner.getTool({ id: data.tool_id }, await asOwner(deps, owner, data.tool_id));
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : undefined;
      if (code === Code.NotFound || code === Code.PermissionDenied) throw new ValidationError('Invalid target', { 'target.tool_id': 'no such tool, or not one you may run' });
      throw new ExternalServiceError('tool-runner', err);
    }
  },
  async fire(deps, ctx, data) {
    const problem = permissionProblem(ctx.owner);
    if (problem) return { status: 'failed', detail: `tool ${data.tool_id}: the owner no longer may run it (${problem})` };
    let executionId: string | undefined;
    try {
      // The key names the slot: a retry of this slot (its first attempt's commit failed or timed out) gets the same execution back.
      const request = {
        id: data.tool_id,
        input: fromJson(ValueSchema, data.input),
        wait: false,
        idempotencyKey: slotKey(ctx.scheduleId, ctx.scheduledFor),
        scheduleId: ctx.scheduleId,
        scheduleRunId: ctx.runId,
      };
      const { execution } = await deps.toolRunner.executeTool(request, await asOwner(deps, ctx.owner, data.tool_id));
      executionId = execution?.id;
    } catch (err) {
      return { status: 'failed', detail: `tool ${data.tool_id}: ${describeRefusal(classify(err))}` };
    }
    if (!executionId) return { status: 'failed', detail: `tool ${data.tool_id}: the tool-runner answered without an execution` };
    return { status: 'queued', jobId: executionId };
  },
  async running(deps, owner, data, executionId) {
    // An owner who may no longer read the tool has nothing running that the overlap policy should wait for; fire records why.
    if (permissionProblem(owner)) return undefined;
    try {
      const { execution } = await deps.toolRunner.getExecution({ id: executionId }, await asOwner(deps, owner, data.tool_id));
      return execution && !FINISHED_EXECUTION.has(execution.status) ? `execution ${executionId} is ${execution.status}` : undefined;
    } catch (err) {
      // Gone, or no longer visible to the owner: nothing of theirs is running. Anything else: classify throws.
      classify(err);
      return undefined;
    }
  },
};
