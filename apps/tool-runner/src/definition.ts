import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'tool-runner',
  version: pkg.version,
  schema: 'tools',
  rpcServices: [ToolRunnerService],
  entities: [],
  migrations,
};
