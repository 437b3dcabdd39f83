import type { ConnectRouter } from '@connectrpc/connect';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(DocumentIngestService, getInfoHandler(runtime));
  };
}
