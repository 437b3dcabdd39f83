import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, deleteNamespace, natsUrl, spawnService, startEmbeddingServer, startStack, testNamespace, waitFor, type EmbeddingServer, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

/**
 * Changing the embedding model, end to end through the gateway: after search
 * and document-ingest restart with another model, vector queries are refused
 * naming both models (hybrid degrades to keyword), results cached under the old
 * model are not served, and a reindex through REST makes the document
 * searchable by vector again with the new model.
 */
describe('documents after an embedding model change (real stack)', () => {
  const namespace = testNamespace();
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  let embeddings: EmbeddingServer;
  let token = '';
  let documentId = '';
  const { api, login } = restClient(() => stack.gatewayUrl);
  const modelEnv = (model: string) => ({ ...embeddings.env(), EMBEDDING_OPENAI_MODEL: model });
  const search = (mode: string) => api('POST', '/api/v1/search', token, { query: 'tardigrade cryptobiosis desiccation', mode, top_k: 5 });

  /** Stops a service and starts it again on the same ports with `env` on top of its own. */
  const restart = async (name: 'search' | 'document-ingest', env: Record<string, string>) => {
    const old = stack.services[name];
    const exited = once(old.process, 'exit');
    old.process.kill('SIGTERM');
    await exited;
    const next = spawnService(name, { ...stack.envFor(name), ...env }, old.rpcPort, old.httpPort);
    (stack.services as Record<string, typeof next>)[name] = next;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${next.httpPort}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: `${name} ready again\n${next.logs().slice(-2_000)}` });
  };

  beforeAll(async () => {
    embeddings = await startEmbeddingServer({ dims: 64 });
    db = await createTestDatabase('model_change');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NATS_URL: natsUrl(), ...modelEnv('model-a') } });
    const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    expect((await api('POST', '/api/v1/users', admin, { username: 'alice', email: 'alice@example.test', password })).status).toBe(201);
    token = await login('alice', password);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await embeddings?.close();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('refuses vector queries naming both models, then a reindex makes the document searchable with the new one', async () => {
    const form = new FormData();
    form.set('title', 'Tardigrades');
    form.set('file', new Blob(['Tardigrades survive desiccation through cryptobiosis, a reversible suspension of metabolism.'], { type: 'text/plain' }), 'tardigrades.txt');
    const uploaded = await fetch(`${stack.gatewayUrl}/api/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(uploaded.status).toBe(202);
    documentId = ((await uploaded.json()) as { id: string }).id;
    await waitFor(async () => (await api('GET', `/api/v1/documents/${documentId}/status`, token)).body?.status === 'ready', { timeoutMs: 60_000, what: 'ready with model-a' });
    const before = await search('vector');
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body!.results.map((r: { document_id: string }) => r.document_id)).toContain(documentId);
    expect((await api('GET', `/api/v1/documents/${documentId}/status`, token)).body?.model).toBe('openai:model-a@64');

    await restart('search', modelEnv('model-b'));
    await restart('document-ingest', modelEnv('model-b'));
    // The cached answer from model-a is not served: search's start invalidated it.
    await waitFor(async () => (await search('vector')).status === 409, { timeoutMs: 10_000, what: 'vector search refused' });
    const refused = await search('vector');
    expect(refused.body!.error).toMatchObject({ code: 'CONFLICT', details: { index_model: 'openai:model-a@64', query_model: 'openai:model-b@64', fix: 'reindex' } });
    expect(refused.body!.error.message).toMatch(/openai:model-a@64.*openai:model-b@64/);
    const hybrid = await search('hybrid');
    expect(hybrid.status).toBe(200);
    expect(hybrid.body).toMatchObject({ mode: 'keyword', degraded: true });

    const reindex = await api('POST', `/api/v1/documents/${documentId}/reindex`, token);
    expect(reindex.status, JSON.stringify(reindex.body)).toBe(202);
    await waitFor(async () => (await api('GET', `/api/v1/documents/${documentId}/status`, token)).body?.indexed_version === 2, { timeoutMs: 60_000, what: 'version 2 indexed' });
    const status = (await api('GET', `/api/v1/documents/${documentId}/status`, token)).body!;
    expect(status).toMatchObject({ status: 'ready', version: 2, indexed_version: 2, model: 'openai:model-b@64' });
    await waitFor(async () => (await search('vector')).status === 200, { timeoutMs: 10_000, what: 'vector search answers again' });
    const after = await search('vector');
    expect(after.body!.results.map((r: { document_id: string }) => r.document_id)).toContain(documentId);
    expect((await search('hybrid')).body).toMatchObject({ mode: 'hybrid', degraded: false });
  });
});
