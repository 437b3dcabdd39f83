import { create, fromJson, toJson, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ExecutionSchema, type Execution, type ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { ExecutionService } from './execution.service.ts';
import type { ExecutionRecord } from './execution.types.ts';

const ms = (d: Date | null) => BigInt(d ? d.getTime() : 0);
const value = (v: unknown) => fromJson(ValueSchema, (v ?? null) as JsonValue);

export function executionToProto(e: ExecutionRecord): Execution {
  return create(ExecutionSchema, {
    id: e.id,
    toolId: e.toolId,
    toolVersion: e.toolVersion,
    ownerId: e.ownerId,
    status: e.status,
    input: value(e.input),
    output: value(e.output),
    stderr: e.stderr,
    ...(e.error ? { error: { code: e.error.code, message: e.error.message } } : {}),
    truncated: e.truncated,
    ...(e.exitCode !== null ? { exitCode: e.exitCode } : {}),
    createdAtMs: ms(e.createdAt),
    startedAtMs: ms(e.startedAt),
    completedAtMs: ms(e.completedAt),
    durationMs: BigInt(e.durationMs ?? 0),
    warnings: [...e.warnings],
  });
}

/** Execution RPCs: proto ↔ domain mapping only. */
export function createExecutionsRpc(
  service: ExecutionService,
): Pick<ServiceImpl<typeof ToolRunnerService>, 'executeTool' | 'getExecution' | 'listExecutions' | 'cancelExecution' | 'getToolStats'> {
  return {
    async executeTool(req, ctx) {
      const input = req.input ? toJson(ValueSchema, req.input) : undefined;
      const options = { idempotencyKey: req.idempotencyKey, scheduleId: req.scheduleId, scheduleRunId: req.scheduleRunId };
      return { execution: executionToProto(await service.execute(principalFrom(ctx), req.id, input, req.wait, options)) };
    },
    async getExecution(req, ctx) {
      return { execution: executionToProto(await service.get(principalFrom(ctx), req.id)) };
    },
    async listExecutions(req, ctx) {
      const page = await service.list(principalFrom(ctx), req.toolId, { limit: req.limit, offset: req.offset, status: req.status });
      return { items: page.items.map(executionToProto), total: BigInt(page.total) };
    },
    async cancelExecution(req, ctx) {
      return { execution: executionToProto(await service.cancel(principalFrom(ctx), req.id)) };
    },
    async getToolStats(req, ctx) {
      const s = await service.stats(principalFrom(ctx), req.id);
      return {
        executions: BigInt(s.executions),
        completed: BigInt(s.completed),
        failed: BigInt(s.failed),
        timedOut: BigInt(s.timedOut),
        cancelled: BigInt(s.cancelled),
        p50DurationMs: BigInt(s.p50DurationMs),
        p95DurationMs: BigInt(s.p95DurationMs),
        lastExecutedAtMs: ms(s.lastExecutedAt),
      };
    },
  };
}
