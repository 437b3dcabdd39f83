import type { Client } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import type { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { uncached, type Cached } from '../cache/response-cache.ts';
import { backendCallOptions, type PrincipalSigner } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, protectedErrorResponses } from '../http/schemas.ts';
import { searchBody, searchRequestFromBody, searchResponse, searchResponseToJson } from './search.schemas.ts';

export interface SearchRouteDeps {
  readonly search: Client<typeof SearchService>;
  readonly signer: PrincipalSigner;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
  /** Wraps the search (results keyed by the caller's scope and the search generation); default: no cache. */
  readonly cached?: Cached;
}

/** `POST /api/v1/search`: REST ↔ SearchService.Search, as the caller (the service filters by what they may see). */
export function searchRoutes(deps: SearchRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'search');
  return async (app) => {
    app.post(
      '',
      {
        preHandler: deps.authorize('search:query'),
        schema: {
          tags: ['search'],
          security: bearerAuth,
          summary:
            'Search the chunks of documents you may see (public, yours, shared with one of your roles): vector, keyword or hybrid. 503 in vector mode when the embedding provider is down (hybrid then answers keyword results with degraded: true); 409 when the index was built by another embedding model than queries use (reindex).',
          body: searchBody,
          response: { 200: searchResponse, 409: errorEnvelopeSchema, ...protectedErrorResponses },
        },
      },
      (deps.cached ?? uncached)({ family: 'search' }, async (request) => searchResponseToJson(await deps.search.search(searchRequestFromBody(request.body), await callOptions(request)))),
    );
  };
}
