import { randomUUID } from 'node:crypto';
import { createEmbeddingProvider, splitPassages, type EmbeddingProvider } from '@csda/embeddings';
import { connectNats, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, startStack, testNamespace, waitFor, query, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIndexPublisher } from './support/publisher.ts';

const PASSWORD = 'search-e2e-password-0123456789';

/**
 * The whole path on the real stack: a user's POST /api/v1/search through the
 * gateway to the search service, whose default local model (USE Lite, loaded
 * from the npm package, offline) embeds the query; documents indexed with
 * vectors of the same model, published as document-ingest will.
 */
describe('search through the gateway on the real stack', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  let stack: Stack;
  let nats: Nats;
  let model: EmbeddingProvider;
  let alice: string;
  const scurvy = randomUUID();
  const hidden = randomUUID();

  const api = async (path: string, token: string | undefined, body?: unknown) => {
    const res = await fetch(`${stack.gatewayUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies; the assertions check their shape
    return { status: res.status, body: (await res.json()) as any };
  };
  const login = async (username: string, password: string) => (await api('/api/v1/auth/login', undefined, { username, password })).body.access_token as string;

  beforeAll(async () => {
    db = await createTestDatabase('search_e2e');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NATS_URL: natsUrl() }, readyTimeoutMs: 120_000 });
    nats = await connectNats(natsUrl(), 'search-e2e', namespace);
    model = createEmbeddingProvider({});
    const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    const ids: Record<string, string> = {};
    for (const name of ['alice', 'bob']) {
      const created = await api('/api/v1/users', admin, { username: name, email: `${name}@example.test`, password: PASSWORD });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids[name] = created.body.id;
    }
    alice = await login('alice', PASSWORD);
    const publisher = createIndexPublisher(nats);
    const version = async (documentId: string, ownerId: string, title: string, texts: string[]) => ({
      documentId,
      version: 1,
      model: model.model,
      dimensions: model.dimensions,
      access: { ownerId, title, accessSeq: 1 },
      chunks: await Promise.all(texts.map(async (content) => ({ content, passages: await model.embed(splitPassages(content).map((p) => p.text)) }))),
    });
    await publisher.publishVersion(
      await version(scurvy, ids.alice!, 'Scurvy', [
        'Scurvy is caused by a lack of vitamin C. Sailors on long voyages ate citrus fruit to prevent it.',
        'The ship carried barrels of salted meat, biscuits and fresh water for the crossing.',
      ]),
    );
    await publisher.publishVersion(await version(hidden, ids.bob!, 'Bob private', ['Lemons and limes prevent scurvy in sailors, Bob noted privately.']));
    await waitFor(async () => (await query<{ n: string }>(db.url, 'select count(*) as n from search.documents where live_version = 1'))[0]?.n === '2', { timeoutMs: 60_000, what: 'both documents live' });
  }, 240_000);

  afterAll(async () => {
    await model?.close();
    await nats?.connection.close();
    await stack?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('answers each mode for the user, with the local model embedding the query, and never shows another user’s document', async () => {
    for (const mode of ['vector', 'keyword', 'hybrid']) {
      const res = await api('/api/v1/search', alice, { query: 'which fruit prevents scurvy on ships', mode, top_k: 5 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.mode).toBe(mode);
      expect(res.body.degraded).toBe(false);
      expect(res.body.results.length).toBeGreaterThan(0);
      expect(res.body.results.every((r: { document_id: string }) => r.document_id === scurvy)).toBe(true);
      expect(res.body.results[0]).toMatchObject({ document_title: 'Scurvy', chunk_index: 0 });
      if (mode !== 'keyword') expect(res.body.model).toBe(model.model);
    }
    const hybrid = await api('/api/v1/search', alice, { query: 'which fruit prevents scurvy on ships' });
    expect(hybrid.body.results[0].ranks.vector.rank).toBe(1);
    expect(hybrid.body.results[0].ranks.keyword.rank).toBe(1);
    expect(hybrid.body.results[0].highlights.join(' ')).toContain('<mark>');
  });

  it('refuses bad input with 422 naming the field, and anonymous callers with 401', async () => {
    const bad = await api('/api/v1/search', alice, { query: 'scurvy', top_k: 0 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details).toHaveProperty('top_k');
    expect((await api('/api/v1/search', undefined, { query: 'scurvy' })).status).toBe(401);
  });
});
