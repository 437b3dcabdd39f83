import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { AuditLogSchema } from './audit/audit-log.entity.ts';
import { RefreshTokenSchema } from './identity/auth/refresh-token.entity.ts';
import { RoleSchema } from './identity/roles/role.entity.ts';
import { UserRoleSchema, UserSchema } from './identity/users/user.entity.ts';
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'gateway',
  version: pkg.version,
  schema: 'identity',
  rpcServices: [GatewayService],
  entities: [AuditLogSchema, UserSchema, UserRoleSchema, RoleSchema, RefreshTokenSchema],
  migrations,
};
