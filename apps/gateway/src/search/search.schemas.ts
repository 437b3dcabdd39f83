import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ListScore, SearchHit, SearchRequestSchema, SearchResponse } from '@csda/proto/csda/search/v1/search_pb.js';
import { z } from 'zod';

export const SEARCH_MODES = ['vector', 'keyword', 'hybrid'] as const;
/** The search service's limits (apps/search/src/query/search-request.ts), checked here first. */
export const QUERY_MAX_CHARS = 1_000;
export const TOP_K_MAX = 100;

const chars = (s: string) => [...s].length;
// eslint-disable-next-line no-control-regex -- C0 controls other than tab and newlines have no place in a query or tag
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

const weight = z.number().min(0).max(100);

export const searchBody = z
  .object({
    query: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .refine((s) => chars(s) <= QUERY_MAX_CHARS, { message: `must be at most ${QUERY_MAX_CHARS} characters` })
      .refine((s) => !CONTROL.test(s), { message: 'must not contain control characters' })
      .meta({ description: `1–${QUERY_MAX_CHARS} characters, web-search syntax: "quoted phrase", -excluded, or. Keyword matching is OR over the terms, ranked by BM25.` }),
    mode: z.enum(SEARCH_MODES).default('hybrid').meta({ description: 'vector (cosine), keyword (BM25 full text), hybrid (reciprocal rank fusion of both; the default)' }),
    top_k: z.number().int().min(1).max(TOP_K_MAX).default(10),
    min_score: z
      .number()
      .optional()
      .meta({ description: 'Drop hits scoring below it. vector: 1 − cosine distance, −1 to 1. keyword: BM25, ≥ 0 (comparable only within one query). hybrid: Σ weight / (60 + rank), ≥ 0.' }),
    filters: z
      .object({
        document_ids: z.array(z.uuid()).max(100).default([]).meta({ description: 'Only chunks of these documents' }),
        tags: z
          .array(z.string().min(1).max(100).refine((s) => !CONTROL.test(s), { message: 'must not contain control characters' }))
          .max(20)
          .default([])
          .meta({ description: 'Only chunks of documents carrying at least one of these tags' }),
      })
      .strict()
      .default({ document_ids: [], tags: [] }),
    weights: z
      .object({ vector: weight.optional(), keyword: weight.optional() })
      .strict()
      .refine((w) => w.vector !== 0 || w.keyword !== 0, { message: 'vector and keyword must not both be 0' })
      .optional()
      .meta({ description: 'Hybrid only: the weight of each list in the fusion (0–100; unset = the service default)' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.min_score === undefined) return;
    const ok = b.mode === 'vector' ? b.min_score >= -1 && b.min_score <= 1 : b.min_score >= 0;
    if (!ok) ctx.addIssue({ code: 'custom', path: ['min_score'], message: b.mode === 'vector' ? 'must be from -1 to 1 in vector mode (1 - cosine distance)' : `must be a number ≥ 0 in ${b.mode} mode` });
  })
  .meta({ id: 'SearchRequest' });

export type SearchBody = z.infer<typeof searchBody>;

const listScore = z.object({ rank: z.number().int(), score: z.number() }).nullable();

const hitSchema = z
  .object({
    chunk_id: z.string(),
    document_id: z.string(),
    document_title: z.string(),
    content: z.string(),
    chunk_index: z.number().int(),
    score: z.number().meta({ description: 'Per mode: vector 1 − cosine distance of the best passage; keyword BM25; hybrid the weighted RRF sum' }),
    document_version: z.number().int(),
    page_start: z.number().int().nullable(),
    page_end: z.number().int().nullable(),
    heading_path: z.array(z.string()),
    highlights: z.array(z.string()).meta({ description: 'HTML fragments around the query terms: text escaped, matches in <mark>' }),
    ranks: z.object({ vector: listScore, keyword: listScore }).meta({ description: 'Rank (1 = best) and score of the hit in each list behind it' }),
  })
  .meta({ id: 'SearchHit' });

export const searchResponse = z
  .object({
    results: z.array(hitSchema),
    mode: z.enum(SEARCH_MODES).meta({ description: 'The mode that ran: keyword when hybrid degraded' }),
    degraded: z.boolean().meta({ description: 'Hybrid ran as keyword only (embedding provider down, or the index was built by another model)' }),
    degraded_reason: z.string().nullable(),
    model: z.string().nullable().meta({ description: 'The embedding model that embedded the query' }),
  })
  .meta({ id: 'SearchResponse' });

export function searchRequestFromBody(b: SearchBody): MessageInitShape<typeof SearchRequestSchema> {
  return {
    query: b.query,
    mode: b.mode,
    topK: b.top_k,
    minScore: b.min_score,
    filters: { documentIds: b.filters.document_ids, tags: b.filters.tags },
    weights: b.weights ? { vector: b.weights.vector, keyword: b.weights.keyword } : undefined,
  };
}

const listScoreToJson = (s: ListScore | undefined) => (s ? { rank: s.rank, score: s.score } : null);

function hitToJson(h: SearchHit) {
  return {
    chunk_id: h.chunkId,
    document_id: h.documentId,
    document_title: h.documentTitle,
    content: h.content,
    chunk_index: h.chunkIndex,
    score: h.score,
    document_version: h.documentVersion,
    page_start: h.pageStart > 0 ? h.pageStart : null,
    page_end: h.pageEnd > 0 ? h.pageEnd : null,
    heading_path: h.headingPath,
    highlights: h.highlights,
    ranks: { vector: listScoreToJson(h.vector), keyword: listScoreToJson(h.keyword) },
  };
}

export function searchResponseToJson(r: SearchResponse): z.infer<typeof searchResponse> {
  return {
    results: r.results.map(hitToJson),
    mode: (SEARCH_MODES as readonly string[]).includes(r.mode) ? (r.mode as (typeof SEARCH_MODES)[number]) : 'hybrid',
    degraded: r.degraded,
    degraded_reason: r.degradedReason || null,
    model: r.model || null,
  };
}
