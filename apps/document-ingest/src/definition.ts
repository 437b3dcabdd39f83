import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import type { ServiceDefinition } from '@csda/service-kit';
import pkg from '../package.json' with { type: 'json' };
import { migrations } from './migrations/index.ts';

export const definition: ServiceDefinition = {
  name: 'document-ingest',
  version: pkg.version,
  schema: 'ingest',
  rpcServices: [DocumentIngestService],
  entities: [],
  migrations,
};
