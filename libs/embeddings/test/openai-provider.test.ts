// The openai provider against a real local HTTP server speaking the
// /v1/embeddings protocol: the request it sends, batching and order, keys.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddingProvider, createOpenAiProvider, embeddingsUrl, type OpenAiProviderOptions } from '../src/index.ts';
import { startEmbeddingsServer, type EmbeddingsServer } from './support/embeddings-server.ts';

let server: EmbeddingsServer;
beforeAll(async () => {
  server = await startEmbeddingsServer(8);
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.fallback = { kind: 'ok' };
});

const options = (over: Partial<OpenAiProviderOptions> = {}): OpenAiProviderOptions => ({
  baseUrl: server.baseUrl,
  model: 'test-embed',
  dimensions: 8,
  sendDimensions: true,
  maxInputTokens: 512,
  batchSize: 3,
  concurrency: 2,
  timeoutMs: 2_000,
  retries: 2,
  backoffBaseMs: 10,
  ...over,
});
const expectVector = (actual: Float32Array, expected: Float32Array) => {
  expect(actual).toBeInstanceOf(Float32Array);
  expect(actual).toHaveLength(expected.length);
  actual.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 5));
};

describe('openai provider', () => {
  it('posts model, inputs, dimensions and encoding_format to {base}/v1/embeddings with the key', async () => {
    const provider = createEmbeddingProvider({
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_OPENAI_BASE_URL: server.baseUrl,
      EMBEDDING_OPENAI_MODEL: 'test-embed',
      EMBEDDING_DIMENSIONS: '8',
      EMBEDDING_OPENAI_API_KEY: 'sk-test-0123456789',
    });
    const [vector] = await provider.embed(['hello']);
    expectVector(vector!, server.expected('hello'));
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/v1/embeddings', headers: { authorization: 'Bearer sk-test-0123456789', 'content-type': 'application/json' } });
    expect(request!.body).toEqual({ model: 'test-embed', input: ['hello'], encoding_format: 'float', dimensions: 8 });
    await provider.close();
    await expect(provider.embed(['x'])).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('splits into requests of batchSize and returns vectors in input order', async () => {
    server.fallback = { kind: 'ok', shuffle: true }; // data[] arrives in reverse; index decides
    const provider = createOpenAiProvider(options());
    const texts = Array.from({ length: 10 }, (_, i) => `passage ${i}`);
    const vectors = await provider.embed(texts);
    const batches = [texts.slice(0, 3), texts.slice(3, 6), texts.slice(6, 9), texts.slice(9)];
    expect(new Set(server.requests.map((r) => JSON.stringify(r.body.input)))).toEqual(new Set(batches.map((b) => JSON.stringify(b))));
    expect(server.requests).toHaveLength(4);
    vectors.forEach((v, i) => expectVector(v, server.expected(texts[i]!)));
  });

  it('sends no dimensions when told not to, no authorization without a key, and a space for an empty text', async () => {
    const provider = createOpenAiProvider(options({ sendDimensions: false }));
    await provider.embed(['', 'x']);
    expect(server.requests[0]!.body).toEqual({ model: 'test-embed', input: [' ', 'x'], encoding_format: 'float' });
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('reads base64 float32 answers from servers that ignore encoding_format', async () => {
    server.script({ kind: 'ok', base64: true });
    const [vector] = await createOpenAiProvider(options()).embed(['b64']);
    expectVector(vector!, server.expected('b64'));
  });

  it('reads the key through resolveApiKey, caches it, and reads it again once after a 401', async () => {
    const keys = ['sk-old-key', 'sk-new-key'];
    let reads = 0;
    const provider = createOpenAiProvider(options({ resolveApiKey: async () => keys[Math.min(reads++, 1)]! }));
    await provider.embed(['one']);
    await provider.embed(['two']);
    expect(reads).toBe(1);
    server.script({ kind: 'status', status: 401 });
    await provider.embed(['three']);
    expect(reads).toBe(2);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer sk-old-key', 'Bearer sk-old-key', 'Bearer sk-old-key', 'Bearer sk-new-key']);
  });

  it('fails as credentials when the vault cannot give the key', async () => {
    const provider = createOpenAiProvider(options({ resolveApiKey: async () => Promise.reject(new Error('vault down')) }));
    await expect(provider.embed(['x'])).rejects.toMatchObject({ kind: 'credentials', code: 'EXTERNAL_SERVICE_ERROR' });
    expect(server.requests).toHaveLength(0);
  });

  it('builds the endpoint from a base with or without /v1', () => {
    expect(embeddingsUrl('https://api.openai.com/v1').href).toBe('https://api.openai.com/v1/embeddings');
    expect(embeddingsUrl('https://api.openai.com/v1/').href).toBe('https://api.openai.com/v1/embeddings');
    expect(embeddingsUrl('http://127.0.0.1:11434').href).toBe('http://127.0.0.1:11434/v1/embeddings');
    expect(embeddingsUrl('https://res.openai.azure.com/openai/v1').href).toBe('https://res.openai.azure.com/openai/v1/embeddings');
    expect(embeddingsUrl('http://127.0.0.1:8080/tei').href).toBe('http://127.0.0.1:8080/tei/v1/embeddings');
  });
});
