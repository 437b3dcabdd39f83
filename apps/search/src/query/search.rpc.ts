import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ListScoreSchema, SearchHitSchema, type SearchRequest, type SearchService as SearchRpc } from '@csda/proto/csda/search/v1/search_pb.js';
import type { SearchRequestInput } from './search-request.ts';
import type { SearchService } from './search.service.ts';
import type { ListPosition } from './rrf.ts';

export function searchInputOf(req: SearchRequest): SearchRequestInput {
  return {
    query: req.query,
    mode: req.mode,
    topK: req.topK,
    minScore: req.minScore,
    documentIds: req.filters?.documentIds ?? [],
    tags: req.filters?.tags ?? [],
    weights: req.weights ? { vector: req.weights.vector, keyword: req.weights.keyword } : undefined,
  };
}

const listScore = (p: ListPosition | undefined) => (p ? create(ListScoreSchema, { rank: p.rank, score: p.score }) : undefined);

/** SearchService.Search: proto ↔ domain mapping only. */
export function createSearchRpc(service: SearchService): Pick<ServiceImpl<typeof SearchRpc>, 'search'> {
  return {
    async search(req, ctx) {
      const result = await service.search(principalFrom(ctx), searchInputOf(req), { signal: ctx.signal });
      return {
        mode: result.mode,
        degraded: result.degraded,
        degradedReason: result.degradedReason,
        model: result.model,
        results: result.hits.map((h) =>
          create(SearchHitSchema, {
            chunkId: h.id,
            documentId: h.documentId,
            documentTitle: h.title,
            content: h.content,
            chunkIndex: h.chunkIndex,
            score: h.score,
            documentVersion: h.documentVersion,
            pageStart: h.pageStart ?? 0,
            pageEnd: h.pageEnd ?? 0,
            headingPath: [...h.headingPath],
            highlights: [...h.highlights],
            vector: listScore(h.lists.vector),
            keyword: listScore(h.lists.keyword),
          }),
        ),
      };
    },
  };
}
