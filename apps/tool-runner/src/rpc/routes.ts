import type { ConnectRouter } from '@connectrpc/connect';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createExecutionsRpc } from '../executions/executions.rpc.ts';
import type { ExecutionService } from '../executions/execution.service.ts';
import { createToolsRpc } from '../tools/tools.rpc.ts';
import type { ToolService } from '../tools/tool.service.ts';

/** ToolRunnerService: the registry and the executions contribute their handlers. */
export function createRoutes(runtime: ServiceRuntime, deps: { tools: ToolService; executions: ExecutionService }) {
  return (router: ConnectRouter) => {
    router.service(ToolRunnerService, {
      ...getInfoHandler(runtime),
      ...createToolsRpc(deps.tools),
      ...createExecutionsRpc(deps.executions),
    });
  };
}
