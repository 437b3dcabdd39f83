import { fromJson, toJson, type JsonObject, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema, type Value } from '@bufbuild/protobuf/wkt';
import { ROLE_NAME_PATTERN } from '@csda/auth';
import type { Execution, GetToolStatsResponse, Tool, ToolInputSchema } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { z } from 'zod';
import { pageQuery } from '../http/schemas.ts';

export const TOOL_TYPES = ['python_script', 'shell_command', 'api_call', 'sql_query'] as const;
export const EXECUTION_STATUSES = ['queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled'] as const;
export const FINISHED_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'timed_out', 'cancelled']);
export const LIST_SCOPES = ['mine', 'public'] as const;

/** Largest `config` (and `input_schema`), as JSON text. */
export const CONFIG_MAX_BYTES = 256 * 1024;
/** Largest execution `input`, as JSON text (the body limit, BODY_LIMIT_BYTES, applies first). */
export const INPUT_MAX_BYTES = 1024 * 1024;
/** Largest `max_output_bytes` the edge passes on; the tool-runner caps it further by the operator's maximum. */
export const OUTPUT_MAX_BYTES = 1024 * 1024 * 1024;

export const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');

const iso = z.iso.datetime({ offset: true });
const isoOrNull = iso.nullable();
const isoFromMs = (ms: bigint): string | null => (ms > 0n ? new Date(Number(ms)).toISOString() : null);
const isoAlways = (ms: bigint) => isoFromMs(ms) ?? new Date(0).toISOString();

/**
 * How a granted secret reaches the tool: an environment variable, an HTTP
 * header, or the SQL tool's connection. The tool-runner decides which forms a
 * tool type accepts (and refuses names such as PATH); the edge checks the form.
 */
const SECRET_TARGET = /^(?:env:[A-Za-z_][A-Za-z0-9_]{0,127}|header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}|datasource)$/;

const secretGrant = z
  .object({
    secret_id: z.uuid(),
    as: z.string().regex(SECRET_TARGET, 'env:NAME, header:Name or datasource').meta({ description: 'env:NAME (an environment variable), header:Name (an HTTP header, api_call) or datasource (the sql_query connection URL)' }),
  })
  .strict()
  .meta({ id: 'ToolSecretGrant', description: 'A vault secret the tool may use; granting it needs your secrets:reveal on it' });

/** A JSON object of bounded size (google.protobuf.Struct on the wire); the tool-runner validates its fields. */
const boundedObject = (what: string, maxBytes: number) =>
  z
    .record(z.string().max(256), z.unknown())
    .refine((o) => jsonBytes(o) <= maxBytes, { message: `${what} is at most ${maxBytes} bytes of JSON` });

const config = boundedObject('config', CONFIG_MAX_BYTES).meta({
  description:
    'Per tool_type. python_script: {code}. shell_command: {command: argv template, each {{param}} one argument}. ' +
    'api_call: {method, url ({{param}} URL-encoded), headers, body, allow_hosts}. sql_query: {query with $1…, params (templates), max_rows}; the datasource is a secret granted as "datasource". Never a secret value.',
});
const inputSchema = boundedObject('input_schema', CONFIG_MAX_BYTES).meta({ description: 'JSON Schema the execution input must satisfy' });

const toolFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(10_000),
  tool_type: z.enum(TOOL_TYPES),
  config,
  input_schema: inputSchema,
  timeout_s: z.number().int().min(1).max(86_400).meta({ description: 'Wall-time limit of one execution (default 300, capped by the operator)' }),
  max_output_bytes: z.number().int().min(1).max(OUTPUT_MAX_BYTES).meta({ description: 'stdout/stderr/response cut at this size, truncated: true (default 1 MiB)' }),
  network: z.boolean().meta({ description: 'python_script / shell_command may open network connections (default false)' }),
  secrets: z.array(secretGrant).max(32).refine((s) => new Set(s.map((g) => g.as)).size === s.length, { message: 'each target (as) once' }),
  is_public: z.boolean(),
  shared_with_roles: z.array(z.string().regex(ROLE_NAME_PATTERN)).max(20),
};

export const createToolBody = z
  .object({
    ...toolFields,
    description: toolFields.description.default(''),
    config: toolFields.config.default({}),
    input_schema: toolFields.input_schema.optional(),
    timeout_s: toolFields.timeout_s.optional(),
    max_output_bytes: toolFields.max_output_bytes.optional(),
    network: toolFields.network.default(false),
    secrets: toolFields.secrets.default([]),
    is_public: toolFields.is_public.default(false),
    shared_with_roles: toolFields.shared_with_roles.default([]),
  })
  .strict();

export const updateToolBody = z
  .object({
    ...toolFields,
    expected_version: z.number().int().min(1).meta({ description: 'Apply only if the tool is still at this version (409 otherwise)' }),
  })
  .partial()
  .strict()
  .meta({ description: 'Fields given replace their current value as a whole (config too); fields left out keep theirs. Every change is a new version.' });

export type CreateToolBody = z.infer<typeof createToolBody>;
export type UpdateToolBody = z.infer<typeof updateToolBody>;

type ToolInputInit = MessageInitShape<typeof ToolInputSchema>;

export function toolInputFromCreate(b: CreateToolBody): ToolInputInit {
  return {
    name: b.name,
    description: b.description,
    toolType: b.tool_type,
    config: b.config as JsonObject,
    inputSchema: b.input_schema as JsonObject | undefined,
    timeoutS: b.timeout_s ?? 0,
    maxOutputBytes: BigInt(b.max_output_bytes ?? 0),
    network: b.network,
    secrets: b.secrets.map((g) => ({ secretId: g.secret_id, as: g.as })),
    isPublic: b.is_public,
    sharedWithRoles: b.shared_with_roles,
  };
}

/** The whole definition after a PATCH: the current tool with the given fields replaced. */
export function mergeToolPatch(current: Tool, patch: UpdateToolBody): ToolInputInit {
  return {
    name: patch.name ?? current.name,
    description: patch.description ?? current.description,
    toolType: patch.tool_type ?? current.toolType,
    config: (patch.config as JsonObject | undefined) ?? current.config ?? {},
    inputSchema: (patch.input_schema as JsonObject | undefined) ?? current.inputSchema,
    timeoutS: patch.timeout_s ?? current.timeoutS,
    maxOutputBytes: patch.max_output_bytes === undefined ? current.maxOutputBytes : BigInt(patch.max_output_bytes),
    network: patch.network ?? current.network,
    secrets: patch.secrets ? patch.secrets.map((g) => ({ secretId: g.secret_id, as: g.as })) : current.secrets.map((g) => ({ secretId: g.secretId, as: g.as })),
    isPublic: patch.is_public ?? current.isPublic,
    sharedWithRoles: patch.shared_with_roles ?? [...current.sharedWithRoles],
  };
}

/** True when the PATCH names no field of the definition (only, perhaps, expected_version). */
export const isEmptyPatch = (patch: UpdateToolBody) => Object.keys(patch).every((k) => k === 'expected_version');

export const toolSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    tool_type: z.string().meta({ description: TOOL_TYPES.join(' | ') }),
    config: z.record(z.string(), z.unknown()),
    input_schema: z.record(z.string(), z.unknown()),
    timeout_s: z.number().int(),
    max_output_bytes: z.number().int(),
    network: z.boolean(),
    secrets: z.array(z.object({ secret_id: z.string(), as: z.string() })),
    is_public: z.boolean(),
    shared_with_roles: z.array(z.string()),
    version: z.number().int().meta({ description: 'Starts at 1; +1 on every change. Executions record the version they ran.' }),
    owner_id: z.string(),
    created_at: iso,
    updated_at: iso,
  })
  .meta({ id: 'Tool' });

export function toolToJson(t: Tool): z.infer<typeof toolSchema> {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    tool_type: t.toolType,
    config: { ...(t.config ?? {}) },
    input_schema: { ...(t.inputSchema ?? {}) },
    timeout_s: t.timeoutS,
    max_output_bytes: Number(t.maxOutputBytes),
    network: t.network,
    secrets: t.secrets.map((g) => ({ secret_id: g.secretId, as: g.as })),
    is_public: t.isPublic,
    shared_with_roles: [...t.sharedWithRoles],
    version: t.version,
    owner_id: t.ownerId,
    created_at: isoAlways(t.createdAtMs),
    updated_at: isoAlways(t.updatedAtMs),
  };
}

export const listToolsQuery = pageQuery.extend({
  tool_type: z.enum(TOOL_TYPES).optional(),
  scope: z.enum(LIST_SCOPES).optional().meta({ description: 'mine: owned by you; public: public ones; absent: every tool you can see (yours, public, shared with your roles)' }),
});

// ---- executions

export const executeBody = z
  .object({
    input: z
      .unknown()
      .default({})
      .refine((v) => jsonBytes(v) <= INPUT_MAX_BYTES, { message: `input is at most ${INPUT_MAX_BYTES} bytes of JSON` })
      .meta({ description: "Validated against the tool's input_schema before anything runs" }),
    wait: z.boolean().default(false).meta({ description: 'Answer with the finished execution (200) if it completes within the wait limit (TOOLS_WAIT_MAX_S), else 202 as without' }),
  })
  .strict();

export const executionAccepted = z
  .object({ execution_id: z.string(), status: z.string().meta({ description: 'queued | running (or already finished when wait was false)' }) })
  .meta({ id: 'ExecutionAccepted' });

export const executionSchema = z
  .object({
    id: z.string(),
    tool_id: z.string(),
    tool_version: z.number().int(),
    owner_id: z.string(),
    status: z.string().meta({ description: EXECUTION_STATUSES.join(' | ') }),
    input: z.unknown(),
    output: z.unknown().meta({ description: 'stdout parsed as JSON when it parses, else a string; the HTTP or SQL result for those types; null until finished' }),
    stderr: z.string(),
    error: z.object({ code: z.string(), message: z.string() }).nullable().meta({ description: 'Why it failed or was refused, in plain words (e.g. TIMED_OUT "killed after 300 s"); null otherwise' }),
    truncated: z.boolean(),
    exit_code: z.number().int().nullable().meta({ description: 'Process exit code (python/shell), HTTP status (api_call), null otherwise' }),
    warnings: z.array(z.string()),
    started_at: isoOrNull,
    completed_at: isoOrNull,
    duration_ms: z.number().int().nullable(),
    created_at: iso,
  })
  .meta({ id: 'ToolExecution' });

/** A google.protobuf.Value as JSON; absent (or a Value with no kind) is null. */
export function valueToJson(value: Value | undefined): JsonValue {
  return value?.kind.case === undefined ? null : toJson(ValueSchema, value);
}

export const valueFromJson = (json: unknown): Value => fromJson(ValueSchema, (json ?? null) as JsonValue);

export function executionToJson(e: Execution): z.infer<typeof executionSchema> {
  const finished = e.completedAtMs > 0n;
  return {
    id: e.id,
    tool_id: e.toolId,
    tool_version: e.toolVersion,
    owner_id: e.ownerId,
    status: e.status,
    input: valueToJson(e.input),
    output: valueToJson(e.output),
    stderr: e.stderr,
    error: e.error && (e.error.code || e.error.message) ? { code: e.error.code, message: e.error.message } : null,
    truncated: e.truncated,
    exit_code: e.exitCode ?? null,
    warnings: [...e.warnings],
    started_at: isoFromMs(e.startedAtMs),
    completed_at: isoFromMs(e.completedAtMs),
    duration_ms: finished ? Number(e.durationMs) : null,
    created_at: isoAlways(e.createdAtMs),
  };
}

export const listExecutionsQuery = pageQuery.extend({ status: z.enum(EXECUTION_STATUSES).optional() });

export const toolStatsSchema = z
  .object({
    tool_id: z.string(),
    executions: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    timed_out: z.number().int(),
    cancelled: z.number().int(),
    p50_duration_ms: z.number().int().nullable().meta({ description: 'Of finished executions; null when none finished' }),
    p95_duration_ms: z.number().int().nullable(),
    last_executed_at: isoOrNull,
  })
  .meta({ id: 'ToolStats' });

export function statsToJson(toolId: string, s: GetToolStatsResponse): z.infer<typeof toolStatsSchema> {
  const anyFinished = s.completed + s.failed + s.timedOut + s.cancelled > 0n;
  return {
    tool_id: toolId,
    executions: Number(s.executions),
    completed: Number(s.completed),
    failed: Number(s.failed),
    timed_out: Number(s.timedOut),
    cancelled: Number(s.cancelled),
    p50_duration_ms: anyFinished ? Number(s.p50DurationMs) : null,
    p95_duration_ms: anyFinished ? Number(s.p95DurationMs) : null,
    last_executed_at: isoFromMs(s.lastExecutedAtMs),
  };
}
