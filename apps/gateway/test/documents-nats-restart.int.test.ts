import { randomBytes } from 'node:crypto';
import { createTestDatabase, query, startEmbeddingServer, startNatsServer, startStack, testNamespace, waitFor, type EmbeddingServer, type Stack, type TestDatabase, type TestNatsServer } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

/**
 * NATS restarting while a document is in the pipeline: the stage's work is in
 * JetStream (file store) and the outbox, so when NATS is back the document
 * becomes ready with every chunk indexed once, and the upload after the outage
 * works as usual. The platform runs on a private nats-server the test stops.
 */
describe('the document pipeline across a NATS restart (real stack)', () => {
  const namespace = testNamespace();
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  let nats: TestNatsServer;
  let db: TestDatabase;
  let stack: Stack;
  let embeddings: EmbeddingServer;
  let token = '';
  const { api, login } = restClient(() => stack.gatewayUrl);
  const status = async (id: string) => (await api('GET', `/api/v1/documents/${id}/status`, token)).body!;
  const upload = async (name: string, text: string) => {
    const form = new FormData();
    form.set('file', new Blob([text], { type: 'text/plain' }), `${name}.txt`);
    const res = await fetch(`${stack.gatewayUrl}/api/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    const body = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(body)).toBe(202);
    return body.id;
  };
  const paragraphs = (n: number, word: string) => Array.from({ length: n }, (_, i) => `Paragraph ${i} about ${word}: ${'measured observations repeated carefully '.repeat(40)}`).join('\n\n');

  beforeAll(async () => {
    nats = await startNatsServer((listen, storeDir) => `listen: "${listen}"\njetstream { store_dir: "${storeDir}" }\n`);
    embeddings = await startEmbeddingServer({ dims: 32 });
    db = await createTestDatabase('pipeline_nats');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NATS_URL: nats.url, DOCUMENT_EMBED_CHUNKS: '4', ...embeddings.env() }, readyTimeoutMs: 150_000 });
    const admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    expect((await api('POST', '/api/v1/users', admin, { username: 'alice', email: 'alice@example.test', password })).status).toBe(201);
    token = await login('alice', password);
  }, 200_000);

  afterAll(async () => {
    await stack?.stop();
    await embeddings?.close();
    await db?.drop();
    await nats?.stop();
  });

  it('a document mid-embedding when NATS stops becomes ready once it is back, every chunk indexed once', async () => {
    embeddings.delayMs = 300;
    const id = await upload('long', paragraphs(40, 'sediment'));
    await waitFor(async () => (await status(id)).status === 'embedding' && Number((await status(id)).chunks_embedded) > 0, { timeoutMs: 60_000, what: 'embedding under way' });
    await nats.kill();
    // Work goes on against PostgreSQL where it can; what must cross NATS waits in the outbox.
    await new Promise((r) => setTimeout(r, 4_000));
    embeddings.delayMs = 0;
    await nats.restart();
    await waitFor(async () => (await status(id)).status === 'ready', { timeoutMs: 120_000, intervalMs: 500, what: `ready after the restart (${JSON.stringify(await status(id))})` });
    const final = await status(id);
    expect(final).toMatchObject({ status: 'ready', version: 1, indexed_version: 1 });
    expect(final.chunks_embedded).toBe(final.chunks_total);
    const [indexed] = await query<{ n: number; distinct: number }>(db.url, 'select count(*)::int as n, count(distinct chunk_index)::int as distinct from search.chunks where document_id = $1 and live', [id]);
    expect(indexed).toEqual({ n: final.chunks_total, distinct: final.chunks_total });

    const after = await upload('after', paragraphs(3, 'basalt'));
    await waitFor(async () => (await status(after)).status === 'ready', { timeoutMs: 60_000, what: 'the next upload ready' });
  });
});
