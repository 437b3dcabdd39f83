import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { AppError, ValidationError, toConnectError } from '@csda/errors';
import { SearchHitSchema, SearchService, type SearchRequest, type SearchResponseSchema } from '@csda/proto/csda/search/v1/search_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const DOC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
const CHUNK = '7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

/** POST /api/v1/search against a local SearchService speaking the real protocol, recording what it was asked and by whom. */
describe('search REST ↔ SearchService', () => {
  const seen: { req: SearchRequest; principal: Principal }[] = [];
  let reply: () => MessageInitShape<typeof SearchResponseSchema>;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(SearchService, 'search', publicKeyOf(), {
      search: (req, ctx: HandlerContext) => {
        seen.push({ req, principal: principalFrom(ctx) });
        return reply();
      },
    });
    ({ app } = await buildOfflineApp({ signer, search: createServiceClient(SearchService, backend.url), bodyLimitBytes: 64 * 1024 }));
    api = client(app);
    alice = await offlineUserToken({ id: ALICE, username: 'alice', roles: ['USER', 'ANALYST'] });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  beforeEach(() => {
    seen.length = 0;
    reply = () => ({ results: [], mode: 'hybrid' });
  });

  const search = (body: unknown, token = alice) => api('POST', '/api/v1/search', { token, body });

  it('searches as the caller with the defaults filled, and answers in the DESIGN.md shape plus pages, headings, highlights and per-list ranks', async () => {
    reply = () => ({
      mode: 'hybrid',
      model: 'local:use-lite-512@0.2.0',
      results: [
        create(SearchHitSchema, {
          chunkId: CHUNK,
          documentId: DOC,
          documentTitle: 'Scurvy',
          content: 'Vitamin C deficiency causes scurvy.',
          chunkIndex: 3,
          score: 1 / 61 + 1 / 62,
          documentVersion: 2,
          pageStart: 4,
          pageEnd: 5,
          headingPath: ['Causes'],
          highlights: ['Vitamin C deficiency causes <mark>scurvy</mark>.'],
          vector: { rank: 1, score: 0.83 },
          keyword: { rank: 2, score: 7.5 },
        }),
        create(SearchHitSchema, { chunkId: DOC, documentId: DOC, documentTitle: 'Other', content: 'x', chunkIndex: 0, score: 1 / 63, keyword: { rank: 3, score: 2 } }),
      ],
    });
    const res = await search({ query: '  what causes scurvy ' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { req, principal } = seen[0]!;
    expect(principal).toMatchObject({ kind: 'user', id: ALICE, roles: ['USER', 'ANALYST'] });
    expect(req).toMatchObject({ query: 'what causes scurvy', mode: 'hybrid', topK: 10, filters: { documentIds: [], tags: [] } });
    expect(req.minScore).toBeUndefined();
    expect(req.weights).toBeUndefined();
    expect(res.body).toEqual({
      mode: 'hybrid',
      degraded: false,
      degraded_reason: null,
      model: 'local:use-lite-512@0.2.0',
      results: [
        {
          chunk_id: CHUNK,
          document_id: DOC,
          document_title: 'Scurvy',
          content: 'Vitamin C deficiency causes scurvy.',
          chunk_index: 3,
          score: 1 / 61 + 1 / 62,
          document_version: 2,
          page_start: 4,
          page_end: 5,
          heading_path: ['Causes'],
          highlights: ['Vitamin C deficiency causes <mark>scurvy</mark>.'],
          ranks: { vector: { rank: 1, score: 0.83 }, keyword: { rank: 2, score: 7.5 } },
        },
        {
          chunk_id: DOC,
          document_id: DOC,
          document_title: 'Other',
          content: 'x',
          chunk_index: 0,
          score: 1 / 63,
          document_version: 0,
          page_start: null,
          page_end: null,
          heading_path: [],
          highlights: [],
          ranks: { vector: null, keyword: { rank: 3, score: 2 } },
        },
      ],
    });
  });

  it('passes mode, top_k, min_score, filters and weights through', async () => {
    const res = await search({ query: 'q', mode: 'keyword', top_k: 100, min_score: 3.5, filters: { document_ids: [DOC], tags: ['finance'] }, weights: { keyword: 2 } });
    expect(res.status).toBe(200);
    expect(seen[0]!.req).toMatchObject({ mode: 'keyword', topK: 100, minScore: 3.5, filters: { documentIds: [DOC], tags: ['finance'] }, weights: { keyword: 2 } });
    expect(seen[0]!.req.weights?.vector).toBeUndefined();
  });

  it('refuses bad input at the edge with 422 naming the field, without calling the service', async () => {
    const cases: [unknown, string][] = [
      [{}, 'query'],
      [{ query: '   ' }, 'query'],
      [{ query: 'x'.repeat(1_001) }, 'query'],
      [{ query: 'a\u0007b' }, 'query'],
      [{ query: 42 }, 'query'],
      [{ query: 'q', mode: 'semantic' }, 'mode'],
      [{ query: 'q', top_k: 0 }, 'top_k'],
      [{ query: 'q', top_k: 101 }, 'top_k'],
      [{ query: 'q', top_k: 2.5 }, 'top_k'],
      [{ query: 'q', top_k: '10' }, 'top_k'],
      [{ query: 'q', mode: 'vector', min_score: 1.5 }, 'min_score'],
      [{ query: 'q', mode: 'keyword', min_score: -1 }, 'min_score'],
      [{ query: 'q', min_score: -0.01 }, 'min_score'],
      [{ query: 'q', filters: { document_ids: [DOC, 'nope'] } }, 'filters.document_ids.1'],
      [{ query: 'q', filters: { document_ids: Array.from({ length: 101 }, () => DOC) } }, 'filters.document_ids'],
      [{ query: 'q', filters: { tags: [''] } }, 'filters.tags.0'],
      [{ query: 'q', filters: { owner_id: ALICE } }, 'filters'],
      [{ query: 'q', weights: { vector: -1 } }, 'weights.vector'],
      [{ query: 'q', weights: { vector: 0, keyword: 0 } }, 'weights'],
      [{ query: 'q', topk: 5 }, 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await search(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body?.error.details ?? {}), JSON.stringify(body)).toContain(field);
    }
    expect(seen).toHaveLength(0);
  });

  it('accepts 1,000 characters counted as characters (emoji are two UTF-16 units)', async () => {
    expect((await search({ query: '🧬'.repeat(1_000) })).status).toBe(200);
  });

  it('needs a token and search:query', async () => {
    expect((await api('POST', '/api/v1/search', { body: { query: 'q' } })).status).toBe(401);
    const without = await offlineUserToken({ id: ALICE, username: 'alice', permissions: ['documents:read'] });
    const res = await search({ query: 'q' }, without);
    expect(res.status).toBe(403);
    expect(seen).toHaveLength(0);
  });

  it('carries the degraded flag and its reason', async () => {
    reply = () => ({ mode: 'keyword', degraded: true, degradedReason: 'vector search unavailable: the embedding provider is down; keyword results only', results: [] });
    const res = await search({ query: 'q' });
    expect(res.body).toMatchObject({ mode: 'keyword', degraded: true, degraded_reason: expect.stringContaining('embedding provider'), model: null });
  });

  it("maps the service's errors: its validation 422, provider down 503, model mismatch 409 naming both models, the service down 503", async () => {
    reply = () => {
      throw toConnectError(new ValidationError('Invalid search request', { query: 'must not be empty' }), false);
    };
    const invalid = await search({ query: 'q' });
    expect(invalid.status).toBe(422);
    expect(invalid.body?.error.details).toEqual({ query: 'must not be empty' });

    reply = () => {
      throw toConnectError(new AppError('EXTERNAL_SERVICE_ERROR', 'The embedding provider did not answer within 5000 ms', { details: { service: 'embeddings', kind: 'timeout' } }), false);
    };
    const down = await search({ query: 'q', mode: 'vector' });
    expect(down.status).toBe(503);
    expect(down.body?.error).toMatchObject({ code: 'EXTERNAL_SERVICE_ERROR', details: { service: 'embeddings' } });

    reply = () => {
      throw toConnectError(new AppError('CONFLICT', 'The search index was built with local:a, but queries are embedded with openai:b', { details: { index_model: 'local:a', query_model: 'openai:b', fix: 'reindex' } }), false);
    };
    const mismatch = await search({ query: 'q', mode: 'vector' });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body?.error).toMatchObject({ code: 'CONFLICT', details: { index_model: 'local:a', query_model: 'openai:b', fix: 'reindex' } });

    const offline = await buildOfflineApp({ signer: gatewaySigner().signer, search: createServiceClient(SearchService, `http://127.0.0.1:${await freePort()}`) });
    try {
      const res = await client(offline.app)('POST', '/api/v1/search', { token: alice, body: { query: 'q' } });
      expect(res.status).toBe(503);
      expect(res.body?.error.code).toBe('EXTERNAL_SERVICE_ERROR');
    } finally {
      await offline.app.close();
    }
  });

  it('documents POST /api/v1/search in the OpenAPI document behind bearer auth', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const op = doc.paths['/api/v1/search'].post;
    expect(op.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '409', '422', '503']));
    expect(JSON.stringify(doc.components.schemas.SearchRequest)).toContain('hybrid');
  });
});
