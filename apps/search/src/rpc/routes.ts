import type { ConnectRouter } from '@connectrpc/connect';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { getInfoHandler, type ServiceRuntime } from '@csda/service-kit';
import { createSearchRpc } from '../query/search.rpc.ts';
import type { SearchService as Search } from '../query/search.service.ts';

/** SearchService: the queries contribute Search. */
export function createRoutes(runtime: ServiceRuntime, deps: { search: Search }) {
  return (router: ConnectRouter) => {
    router.service(SearchService, {
      ...getInfoHandler(runtime),
      ...createSearchRpc(deps.search),
    });
  };
}
