import type { ConnectRouter } from '@connectrpc/connect';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createDocumentsRpc } from '../documents/documents.rpc.ts';
import type { DocumentService } from '../documents/document.service.ts';

/** DocumentIngestService: GetInfo and the document RPCs. */
export function createRoutes(runtime: ServiceRuntime, deps: { documents: DocumentService }) {
  return (router: ConnectRouter) => {
    router.service(DocumentIngestService, { ...getInfoHandler(runtime), ...createDocumentsRpc(deps.documents) });
  };
}
