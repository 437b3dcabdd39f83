import { Code, ConnectError, type CallOptions, type Client } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import { ConflictError } from '@csda/errors';
import type { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { itemGen } from '../cache/families.ts';
import { uncached, type Cached } from '../cache/response-cache.ts';
import { backendCallOptions, type PrincipalSigner } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, protectedErrorResponses } from '../http/schemas.ts';
import {
  createToolBody,
  executeBody,
  executionAccepted,
  executionSchema,
  executionToJson,
  FINISHED_STATUSES,
  isEmptyPatch,
  listExecutionsQuery,
  listToolsQuery,
  mergeToolPatch,
  statsToJson,
  toolInputFromCreate,
  toolSchema,
  toolStatsSchema,
  toolToJson,
  updateToolBody,
  valueFromJson,
} from './tools.schemas.ts';

export interface ToolRouteDeps {
  readonly tools: Client<typeof ToolRunnerService>;
  readonly signer: PrincipalSigner;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
  /** How long the tool-runner may hold a `wait: true` execution (its TOOLS_WAIT_MAX_S); the call's deadline adds a margin. */
  readonly waitMaxS: number;
  /** Wraps the cached reads (list, detail, stats); default: no cache. */
  readonly cached?: Cached;
}

const errors = { 404: errorEnvelopeSchema, ...protectedErrorResponses };
const writeErrors = { ...errors, 409: errorEnvelopeSchema, 413: errorEnvelopeSchema };
const executeErrors = { ...errors, 413: errorEnvelopeSchema, 429: errorEnvelopeSchema };

/** Re-reads and re-merges a PATCH this many times when another change lands in between (no expected_version given). */
const PATCH_ATTEMPTS = 3;
/** Deadline margin above the tool-runner's own wait limit, so it answers (202) before the gateway gives up. */
const WAIT_MARGIN_MS = 5_000;

const isConflict = (err: unknown) => err instanceof ConnectError && (err.code === Code.AlreadyExists || err.code === Code.Aborted || err.code === Code.FailedPrecondition);

/** `/api/v1/tools…`: REST ↔ ToolRunnerService; the tool-runner answers NOT_FOUND for tools you may not see. */
export function toolRoutes(deps: ToolRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'tool-runner');
  const tags = ['tools'];
  const read = deps.authorize('tools:read');
  const write = deps.authorize('tools:write');
  const execute = deps.authorize('tools:execute');
  const cached = deps.cached ?? uncached;

  const withDeadline = async (request: FastifyRequest, timeoutMs: number): Promise<CallOptions> => ({ ...(await callOptions(request)), timeoutMs });

  return async (app) => {
    app.get(
      '',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Tools you can see: yours, public ones and those shared with your roles (filter by type, scope)', querystring: listToolsQuery, response: { 200: pageOf(toolSchema, 'ToolPage'), ...errors } } },
      cached({ family: 'tools' }, async (request) => {
        const q = request.query;
        const res = await deps.tools.listTools({ limit: q.limit, offset: q.offset, toolType: q.tool_type ?? '', scope: q.scope ?? '' }, await callOptions(request));
        return { items: res.items.map(toolToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      }),
    );

    app.post(
      '',
      {
        preHandler: write,
        schema: { tags, security: bearerAuth, summary: 'Create a tool (version 1); granting secrets needs your secrets:reveal on each', body: createToolBody, response: { 201: toolSchema, ...writeErrors } },
      },
      async (request, reply) => {
        const res = await deps.tools.createTool({ tool: toolInputFromCreate(request.body) }, await callOptions(request));
        return reply.status(201).send(toolToJson(res.tool!));
      },
    );

    app.get(
      '/:id',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'One tool with its current version', params: idParams, response: { 200: toolSchema, ...errors } } },
      cached({ family: 'tools', generations: (request) => [itemGen('tools', (request.params as { id: string }).id)] }, async (request) => toolToJson((await deps.tools.getTool({ id: request.params.id }, await callOptions(request))).tool!)),
    );

    app.patch(
      '/:id',
      {
        preHandler: write,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Change a tool: fields given replace theirs as a whole (config included), the rest keep theirs; a new version. With expected_version, 409 unless the tool is still at it.',
          params: idParams,
          body: updateToolBody,
          response: { 200: toolSchema, ...writeErrors },
        },
      },
      async (request) => {
        const { id } = request.params;
        const patch = request.body;
        let raced: { version: number; err: unknown } | undefined;
        for (let attempt = 1; ; attempt++) {
          const options = await callOptions(request);
          const current = (await deps.tools.getTool({ id }, options)).tool!;
          // The last conflict was not a concurrent change (the version did not move: a duplicate name, say): it stands.
          if (raced && raced.version === current.version) throw raced.err;
          if (patch.expected_version !== undefined && patch.expected_version !== current.version) {
            throw new ConflictError(`Tool is at version ${current.version}, not ${patch.expected_version}`, { resource: 'tool', identifier: id, current_version: String(current.version) });
          }
          if (isEmptyPatch(patch)) return toolToJson(current);
          try {
            const res = await deps.tools.updateTool({ id, tool: mergeToolPatch(current, patch), expectedVersion: current.version }, options);
            return toolToJson(res.tool!);
          } catch (err) {
            // Someone else changed it between our read and write: merge onto theirs, unless the caller pinned a version.
            if (!isConflict(err) || patch.expected_version !== undefined || attempt >= PATCH_ATTEMPTS) throw err;
            raced = { version: current.version, err };
          }
        }
      },
    );

    app.delete(
      '/:id',
      { preHandler: write, schema: { tags, security: bearerAuth, summary: 'Delete a tool (soft delete; its executions stay on record, its secret grants are revoked)', params: idParams, response: { 204: z.null(), ...writeErrors } } },
      async (request, reply) => {
        await deps.tools.deleteTool({ id: request.params.id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/:id/execute',
      {
        preHandler: execute,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Run a tool with an input: 202 {execution_id, status} (poll GET /api/v1/tools/executions/{id}); with wait, 200 and the finished execution if it completes in time. 429 when your running executions reach the limit.',
          params: idParams,
          body: executeBody,
          response: { 200: executionSchema, 202: executionAccepted, ...executeErrors },
        },
      },
      async (request, reply) => {
        const { input, wait } = request.body;
        const options = wait ? await withDeadline(request, deps.waitMaxS * 1_000 + WAIT_MARGIN_MS) : await callOptions(request);
        const execution = (await deps.tools.executeTool({ id: request.params.id, input: valueFromJson(input), wait }, options)).execution!;
        if (wait && FINISHED_STATUSES.has(execution.status)) return reply.status(200).send(executionToJson(execution));
        void reply.header('location', `/api/v1/tools/executions/${execution.id}`);
        return reply.status(202).send({ execution_id: execution.id, status: execution.status });
      },
    );

    app.get(
      '/executions/:id',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'One execution: status, input, output, stderr, error, timings', params: idParams, response: { 200: executionSchema, ...errors } } },
      async (request) => executionToJson((await deps.tools.getExecution({ id: request.params.id }, await callOptions(request))).execution!),
    );

    app.post(
      '/executions/:id/cancel',
      {
        preHandler: execute,
        schema: { tags, security: bearerAuth, summary: 'Cancel an execution: a queued one never starts, a running one is killed on whichever replica holds it; a finished one is returned as is', params: idParams, response: { 200: executionSchema, ...errors, 409: errorEnvelopeSchema } },
      },
      async (request) => executionToJson((await deps.tools.cancelExecution({ id: request.params.id }, await callOptions(request))).execution!),
    );

    app.get(
      '/:id/executions',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Executions of a tool, newest first (filter by status)', params: idParams, querystring: listExecutionsQuery, response: { 200: pageOf(executionSchema, 'ToolExecutionPage'), ...errors } } },
      async (request) => {
        const q = request.query;
        const res = await deps.tools.listExecutions({ toolId: request.params.id, limit: q.limit, offset: q.offset, status: q.status ?? '' }, await callOptions(request));
        return { items: res.items.map(executionToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      },
    );

    app.get(
      '/:id/stats',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'Execution figures of a tool: counts by outcome, p50/p95 duration, last execution', params: idParams, response: { 200: toolStatsSchema, ...errors } } },
      cached({ family: 'tool_stats', generations: (request) => [itemGen('tool_stats', (request.params as { id: string }).id)] }, async (request) => statsToJson(request.params.id, await deps.tools.getToolStats({ id: request.params.id }, await callOptions(request)))),
    );
  };
}
