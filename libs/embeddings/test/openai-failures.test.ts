// Failures of the openai provider against a real local HTTP server: retries
// on 429 (Retry-After honoured) and 5xx, exhausted retries, timeouts, dropped
// connections, malformed answers, wrong dimensions — and no key in any message.
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOpenAiProvider, EmbeddingUnavailableError, type OpenAiProviderOptions } from '../src/index.ts';
import { startEmbeddingsServer, type EmbeddingsServer } from './support/embeddings-server.ts';

const KEY = 'sk-live-SECRET-4f9c2a7e81d3';
let server: EmbeddingsServer;
beforeAll(async () => {
  server = await startEmbeddingsServer(8);
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.fallback = { kind: 'ok' };
});

const provider = (over: Partial<OpenAiProviderOptions> = {}) =>
  createOpenAiProvider({
    baseUrl: server.baseUrl,
    model: 'test-embed',
    dimensions: 8,
    sendDimensions: true,
    maxInputTokens: 512,
    batchSize: 16,
    concurrency: 2,
    timeoutMs: 1_000,
    retries: 2,
    backoffBaseMs: 10,
    apiKey: KEY,
    ...over,
  });

/** The error of a call that must fail; its message and details never hold the key. */
async function failure(call: Promise<unknown>): Promise<EmbeddingUnavailableError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EmbeddingUnavailableError);
  const e = err as EmbeddingUnavailableError;
  expect(e.code).toBe('EXTERNAL_SERVICE_ERROR');
  expect(`${e.message} ${JSON.stringify(e.details)} ${e.stack}`).not.toContain(KEY);
  return e;
}

describe('openai provider failures', () => {
  it('waits out a 429 as long as Retry-After says, then succeeds', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const started = Date.now();
    const vectors = await provider().embed(['after a 429']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(vectors).toHaveLength(1);
    expect(server.requests).toHaveLength(2);
  });

  it('retries 5xx and dropped connections, then succeeds', async () => {
    server.script({ kind: 'status', status: 503 }, { kind: 'reset' });
    expect(await provider().embed(['third time'])).toHaveLength(1);
    expect(server.requests).toHaveLength(3);
  });

  it('gives up after the retries with the last status', async () => {
    server.fallback = { kind: 'status', status: 500, body: JSON.stringify({ error: { message: 'model crashed' } }) };
    const err = await failure(provider().embed(['x']));
    expect(err.kind).toBe('http');
    expect(err.message).toBe('embedding server answered HTTP 500: model crashed (3 attempts)');
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry a 400, and scrubs the key a server echoes back', async () => {
    server.script({ kind: 'status', status: 400, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}. Bearer ${KEY}` } }) });
    const err = await failure(provider().embed(['x']));
    expect(err.kind).toBe('http');
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('[redacted]');
    expect(server.requests).toHaveLength(1);
  });

  it('fails at once when Retry-After is longer than it will wait', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    const err = await failure(provider().embed(['x']));
    expect(err.message).toMatch(/retry after 3600 s/);
    expect(server.requests).toHaveLength(1);
  });

  it('times out a request that gets no answer, retries, and fails as timeout', async () => {
    server.fallback = { kind: 'hang' };
    const started = Date.now();
    const err = await failure(provider({ timeoutMs: 200, retries: 1 }).embed(['x']));
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/did not answer within 200 ms \(2 attempts\)/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('fails as connection when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(provider({ baseUrl: `http://127.0.0.1:${port}`, retries: 1 }).embed(['x']));
    expect(err.kind).toBe('connection');
    expect(err.message).toMatch(/could not be reached \(ECONNREFUSED\) \(2 attempts\)/);
  });

  it.each([
    ['a body that is not JSON', '<html>proxy error</html>', /not JSON/],
    ['no data array', '{"object":"list"}', /no "data" array/],
    ['too few embeddings', '{"data":[]}', /0 embeddings for 1 inputs/],
    ['a non-numeric value', '{"data":[{"index":0,"embedding":[1,"x",3,4,5,6,7,8]}]}', /embedding\[1\] is not a finite number/],
    ['an index out of range', '{"data":[{"index":5,"embedding":[1,2,3,4,5,6,7,8]}]}', /index is not an input position/],
  ])('refuses %s as protocol, without retrying', async (_what, body, message) => {
    server.script({ kind: 'raw', body });
    const err = await failure(provider().embed(['x']));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(message);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses vectors of another dimension, naming both and the setting', async () => {
    server.script({ kind: 'ok', dims: 12 });
    const err = await failure(provider().embed(['x']));
    expect(err.kind).toBe('dimensions');
    expect(err.message).toMatch(/answered 12-dimensional vectors for model test-embed, but EMBEDDING_DIMENSIONS is 8/);
  });

  it('rejects with the abort reason when the caller aborts during a back-off', async () => {
    server.fallback = { kind: 'status', status: 503, headers: { 'retry-after': '5' } };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('client went away')), 100);
    const started = Date.now();
    await expect(provider({ maxRetryAfterMs: 10_000 }).embed(['x'], { signal: controller.signal })).rejects.toThrow('client went away');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
