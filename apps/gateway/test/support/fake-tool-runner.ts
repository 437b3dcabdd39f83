import { create, toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema, type Value } from '@bufbuild/protobuf/wkt';
import type { HandlerContext } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { ExecutionSchema, ToolRunnerService, ToolSchema, type Tool, type ToolInput } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { valueFromJson } from '../../src/tools/tools.schemas.ts';
import { client } from './identity-harness.ts';
import { gatewaySigner, startLocalBackend } from './local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './offline-app.ts';

export const TOOL = '7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
export const EXEC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
export const SECRET = '0b0e4a52-9a53-4d8e-8f4e-2f1d0c8a7b61';
export const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
export const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
export const WAIT_MAX_S = 7;
export const MiB = 1024 * 1024;

export interface Seen {
  method: string;
  req: unknown;
  principal: Principal;
  timeoutMs: number | undefined;
}

type ToolInit = Omit<MessageInitShape<typeof ToolSchema>, '$typeName'>;
export type ExecutionInit = Omit<MessageInitShape<typeof ExecutionSchema>, '$typeName'>;

export const json = (v: Value | undefined) => (v ? toJson(ValueSchema, v) : undefined);

export const tool = (over: ToolInit = {}) =>
  create(ToolSchema, {
    id: TOOL,
    ownerId: ALICE,
    name: 'count-matches',
    description: 'grep -c',
    toolType: 'shell_command',
    config: { command: ['grep', '-c', '{{pattern}}', '{{file}}'] },
    inputSchema: { type: 'object', required: ['pattern'], properties: { pattern: { type: 'string' } } },
    timeoutS: 300,
    maxOutputBytes: BigInt(MiB),
    network: false,
    secrets: [{ secretId: SECRET, as: 'env:API_KEY' }],
    isPublic: false,
    sharedWithRoles: ['ANALYST'],
    version: 3,
    createdAtMs: BigInt(T0),
    updatedAtMs: BigInt(T0 + 1_000),
    ...over,
  });

const fromInput = (input: ToolInput | undefined, version: number) =>
  tool({
    name: input?.name,
    description: input?.description,
    toolType: input?.toolType,
    config: input?.config,
    inputSchema: input?.inputSchema,
    timeoutS: input?.timeoutS || 300,
    maxOutputBytes: input?.maxOutputBytes || BigInt(MiB),
    network: input?.network,
    secrets: input?.secrets,
    isPublic: input?.isPublic,
    sharedWithRoles: input?.sharedWithRoles,
    version,
  });

export const execution = (over: ExecutionInit = {}) =>
  create(ExecutionSchema, { id: EXEC, toolId: TOOL, toolVersion: 3, ownerId: ALICE, status: 'queued', input: valueFromJson({ pattern: 'x' }), createdAtMs: BigInt(T0), ...over });

/** What the next calls of the fake do; reset before each test. */
export interface FakeState {
  /** Thrown by the next calls (a queue: one per call, the last one sticks). */
  failures: Error[];
  /** Run by the next updateTool calls, one each: may change the stored tool and return an error to throw. */
  onUpdate: (() => Error | undefined)[];
  stored: Tool;
  executionReply: ExecutionInit;
}

/**
 * The gateway's tools routes against a local ToolRunnerService speaking the
 * real protocol (Connect over h2c, internal tokens verified with the
 * gateway's key), standing in for apps/tool-runner; records every call.
 */
export function fakeToolRunner() {
  const seen: Seen[] = [];
  /** Thrown by the next calls of one method, one each, before `state.failures`. */
  const failuresOf = new Map<string, Error[]>();
  const state: FakeState = { failures: [], onUpdate: [], stored: tool(), executionReply: {} };

  const record = (method: string, req: unknown, ctx: HandlerContext) => {
    seen.push({ method, req, principal: principalFrom(ctx), timeoutMs: ctx.timeoutMs() });
    const own = failuresOf.get(method)?.shift();
    if (own) throw own;
    const failure = state.failures.length > 1 ? state.failures.shift() : state.failures[0];
    if (failure) throw failure;
  };

  const start = async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    const backend = await startLocalBackend(ToolRunnerService, 'tool-runner', publicKeyOf(), {
      createTool: (req, ctx) => (record('createTool', req, ctx), { tool: fromInput(req.tool, 1) }),
      listTools: (req, ctx) => (record('listTools', req, ctx), { items: [tool(), tool({ id: SECRET, isPublic: true, inputSchema: undefined, config: undefined })], total: 9n }),
      getTool: (req, ctx) => (record('getTool', req, ctx), { tool: state.stored }),
      updateTool: (req, ctx) => {
        record('updateTool', req, ctx);
        const raced = state.onUpdate.shift()?.();
        if (raced) throw raced;
        state.stored = fromInput(req.tool, state.stored.version + 1);
        return { tool: state.stored };
      },
      deleteTool: (req, ctx) => (record('deleteTool', req, ctx), {}),
      executeTool: (req, ctx) => (record('executeTool', req, ctx), { execution: execution({ input: req.input, ...state.executionReply }) }),
      getExecution: (req, ctx) => (record('getExecution', req, ctx), { execution: execution(state.executionReply) }),
      cancelExecution: (req, ctx) => (
        record('cancelExecution', req, ctx),
        { execution: execution({ status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled by alice' }, startedAtMs: BigInt(T0 + 10), completedAtMs: BigInt(T0 + 510), durationMs: 500n }) }
      ),
      listExecutions: (req, ctx) => (
        record('listExecutions', req, ctx),
        { items: [execution({ status: 'completed', output: valueFromJson({ count: 2 }), exitCode: 0, startedAtMs: BigInt(T0 + 5), completedAtMs: BigInt(T0 + 45), durationMs: 40n }), execution()], total: 12n }
      ),
      getToolStats: (req, ctx) => (
        record('getToolStats', req, ctx),
        req.id === SECRET
          ? {}
          : { executions: 12n, completed: 8n, failed: 2n, timedOut: 1n, cancelled: 1n, p50DurationMs: 41n, p95DurationMs: 900n, lastExecutedAtMs: BigInt(T0 + 60_000) }
      ),
    });
    const { app } = await buildOfflineApp({ signer, tools: createServiceClient(ToolRunnerService, backend.url), bodyLimitBytes: 2 * MiB, toolsWaitMaxS: WAIT_MAX_S });
    const alice = await offlineUserToken({ id: ALICE, username: 'alice' });
    return {
      app,
      api: client(app),
      alice,
      async close() {
        await app.close();
        await backend.close();
      },
    };
  };

  return {
    seen,
    failuresOf,
    state,
    start,
    last: () => seen.at(-1)!,
    calls: () => seen.map((s) => s.method),
    reset() {
      seen.length = 0;
      failuresOf.clear();
      Object.assign(state, { failures: [], onUpdate: [], stored: tool(), executionReply: {} } satisfies FakeState);
    },
  };
}
