import type { ConnectRouter } from '@connectrpc/connect';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';

export function createRoutes(runtime: ServiceRuntime) {
  return (router: ConnectRouter) => {
    router.service(SearchService, getInfoHandler(runtime));
  };
}
