import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { AuditLogSchema } from './audit/audit-log.entity.ts';
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'gateway',
  version: pkg.version,
  schema: 'identity',
  rpcServices: [GatewayService],
  entities: [AuditLogSchema],
  migrations,
};
