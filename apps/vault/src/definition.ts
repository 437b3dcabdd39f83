import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'vault',
  version: pkg.version,
  schema: 'vault',
  rpcServices: [VaultService],
  entities: [],
  migrations,
};
