import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'search',
  version: pkg.version,
  schema: 'search',
  rpcServices: [SearchService],
  entities: [],
  migrations,
};
