import { Code, ConnectError } from '@connectrpc/connect';
import { describeConnectError } from '@csda/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCorpus, USERS } from './query-support/corpus.ts';
import { QUERY_MODEL, startQueryHarness, type QueryHarness } from './query-support/query-harness.ts';

const owner = { id: USERS[0]! };
const failure = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
};

/**
 * The embedding provider failing (a local OpenAI-compatible server answering
 * 500, through the service's real openai provider) and an index built by
 * another model than queries are embedded with.
 */
describe('search when embeddings fail', () => {
  let h: QueryHarness;
  const corpus = makeCorpus(7, { documents: 4, chunks: 5, publicDocs: 4, model: QUERY_MODEL });

  beforeAll(async () => {
    h = await startQueryHarness('query_failures');
    await h.load(corpus);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('provider down: vector is EXTERNAL_SERVICE_ERROR (503), keyword works, hybrid answers keyword results with degraded: true', async () => {
    h.embeddings.fail = 500;
    try {
      const err = await failure(h.search(owner, { query: 'protein receptor', mode: 'vector' }));
      expect(err.code).toBe(Code.Unavailable);
      expect(describeConnectError(err)).toMatchObject({ code: 'EXTERNAL_SERVICE_ERROR', details: { service: 'embeddings' } });
      expect(err.rawMessage).not.toMatch(/protein|receptor/);

      const keyword = await h.search(owner, { query: 'protein receptor', mode: 'keyword' });
      expect(keyword.results.length).toBeGreaterThan(0);
      expect(keyword.degraded).toBe(false);

      const hybrid = await h.search(owner, { query: 'protein receptor', topK: 7 });
      expect(hybrid).toMatchObject({ mode: 'keyword', degraded: true, model: '' });
      expect(hybrid.degradedReason).toMatch(/embedding provider is down/);
      expect(hybrid.results.map((r) => r.chunkId)).toEqual(keyword.results.slice(0, 7).map((r) => r.chunkId));
      for (const r of hybrid.results) {
        expect(r.vector).toBeUndefined();
        expect(r.score).toBe(r.keyword!.score);
      }
    } finally {
      h.embeddings.fail = undefined;
    }
    const back = await h.search(owner, { query: 'protein receptor' });
    expect(back).toMatchObject({ mode: 'hybrid', degraded: false, model: QUERY_MODEL });

    // Operators see it: degraded answers and failed vector queries are counted apart.
    const metrics = await (await fetch(`http://127.0.0.1:${h.replica.httpPort}/metrics`)).text();
    const count = (labels: string) => Number(new RegExp(`csda_search_queries_total\\{[^}]*${labels}[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    expect(count('mode="hybrid",ran="keyword",outcome="degraded"')).toBeGreaterThanOrEqual(1);
    expect(count('mode="vector",ran="none",outcome="error"')).toBeGreaterThanOrEqual(1);
    expect(count('mode="hybrid",ran="hybrid",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/csda_search_vector_plans_total\{[^}]*plan="exact"/);
  });

  it('index of another model: vector is CONFLICT naming both models (fix: reindex), hybrid degrades saying so; removing it recovers', async () => {
    const [other] = makeCorpus(8, { documents: 1, chunks: 2, publicDocs: 1, model: 'openai:older-model@512' });
    await h.load([other!]);
    const err = await failure(h.search(owner, { query: 'protein', mode: 'vector' }));
    const described = describeConnectError(err);
    expect(described).toMatchObject({ code: 'CONFLICT', details: { index_model: 'openai:older-model@512', query_model: QUERY_MODEL, fix: 'reindex' } });
    expect(described.message).toContain('openai:older-model@512');
    expect(described.message).toContain(QUERY_MODEL);
    expect(described.message).toMatch(/[Rr]eindex/);
    const embedded = h.embeddings.inputs.length;

    const hybrid = await h.search(owner, { query: 'protein' });
    expect(hybrid).toMatchObject({ mode: 'keyword', degraded: true });
    expect(hybrid.degradedReason).toContain('openai:older-model@512');
    // Refused before embedding: the provider was not called for nothing.
    expect(h.embeddings.inputs.length).toBe(embedded);

    await h.index.publisher.deleteDocument(other!.documentId);
    await expect
      .poll(async () => (await h.search(owner, { query: 'protein', mode: 'vector' }).then(() => 'ok', (e: ConnectError) => e.code)), { timeout: 30_000 })
      .toBe('ok');
  });
});
