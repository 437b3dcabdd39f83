import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ToolSchema, type Tool, type ToolInput, type ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { ToolService } from './tool.service.ts';
import type { ToolRecord } from './tool.types.ts';
import type { ToolInputData } from './tool.validation.ts';

export function toolToProto(t: ToolRecord): Tool {
  return create(ToolSchema, {
    id: t.id,
    ownerId: t.ownerId,
    name: t.name,
    description: t.description,
    toolType: t.toolType,
    config: t.config as Tool['config'],
    inputSchema: t.inputSchema as Tool['inputSchema'],
    timeoutS: t.timeoutS,
    maxOutputBytes: BigInt(t.maxOutputBytes),
    network: t.network,
    secrets: t.secrets.map((g) => ({ secretId: g.secretId, as: g.as })),
    isPublic: t.isPublic,
    sharedWithRoles: [...t.sharedWithRoles],
    version: t.version,
    createdAtMs: BigInt(t.createdAt.getTime()),
    updatedAtMs: BigInt(t.updatedAt.getTime()),
  });
}

export function toolInputOf(t: ToolInput | undefined): ToolInputData {
  return {
    name: t?.name ?? '',
    description: t?.description ?? '',
    toolType: t?.toolType ?? '',
    config: t?.config,
    inputSchema: t?.inputSchema,
    timeoutS: t?.timeoutS ?? 0,
    maxOutputBytes: Number(t?.maxOutputBytes ?? 0n),
    network: t?.network ?? false,
    secrets: (t?.secrets ?? []).map((g) => ({ secretId: g.secretId, as: g.as })),
    isPublic: t?.isPublic ?? false,
    sharedWithRoles: t?.sharedWithRoles ?? [],
  };
}

/** The registry RPCs: proto ↔ domain mapping only. */
export function createToolsRpc(service: ToolService): Pick<ServiceImpl<typeof ToolRunnerService>, 'createTool' | 'listTools' | 'getTool' | 'updateTool' | 'deleteTool'> {
  return {
    async createTool(req, ctx) {
      return { tool: toolToProto(await service.create(principalFrom(ctx), toolInputOf(req.tool))) };
    },
    async listTools(req, ctx) {
      const page = await service.list(principalFrom(ctx), { limit: req.limit, offset: req.offset, toolType: req.toolType, scope: req.scope });
      return { items: page.items.map(toolToProto), total: BigInt(page.total) };
    },
    async getTool(req, ctx) {
      return { tool: toolToProto(await service.get(principalFrom(ctx), req.id)) };
    },
    async updateTool(req, ctx) {
      return { tool: toolToProto(await service.update(principalFrom(ctx), req.id, toolInputOf(req.tool), req.expectedVersion)) };
    },
    async deleteTool(req, ctx) {
      await service.remove(principalFrom(ctx), req.id);
      return {};
    },
  };
}
