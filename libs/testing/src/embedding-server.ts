// A local OpenAI-compatible `/v1/embeddings` server, standing in for an outside
// embedding API: the services' real openai provider (@csda/embeddings) talks
// to it over HTTP on 127.0.0.1. Every text embeds as a unit vector seeded by
// its hash (equal texts, equal vectors) unless `vectorFor` decides; `delayMs`
// slows each answer, `fail` answers an HTTP error (a provider that is down).
// It records every text it embedded.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface EmbeddingServer {
  /** Base URL for EMBEDDING_OPENAI_BASE_URL (ends in /v1). */
  readonly baseUrl: string;
  readonly dims: number;
  /** When set, every request is answered with this status and an error body. */
  fail: number | undefined;
  delayMs: number;
  /** Texts embedded so far, in order. */
  readonly inputs: string[];
  /** The env that points a service at this server (EMBEDDING_OPENAI_MODEL = `model`). */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export interface EmbeddingServerOptions {
  readonly dims?: number;
  /** The model name `env()` gives the services (default `test-hash`). */
  readonly model?: string;
  /** A vector for `text` instead of the hashed one (undefined: hashed). */
  readonly vectorFor?: (text: string, dims: number) => Float32Array | undefined;
}

/** The hashed vector of `text`: deterministic, unit length, never zero. */
export function hashedEmbedding(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let seed = createHash('sha256').update(text).digest().readUInt32LE(0) || 1;
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    v[i] = seed / 4_294_967_296 - 0.5;
    norm += v[i]! ** 2;
  }
  for (let i = 0; i < dims; i++) v[i] = v[i]! / Math.sqrt(norm);
  return v;
}

export async function startEmbeddingServer(options: EmbeddingServerOptions = {}): Promise<EmbeddingServer> {
  const dims = options.dims ?? 64;
  const vectorOf = (text: string) => options.vectorFor?.(text, dims) ?? hashedEmbedding(text, dims);
  const state = { fail: undefined as number | undefined, delayMs: 0, inputs: [] as string[] };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      // No timer unless asked to be slow: setTimeout(…, 0) waits a millisecond or more, which a benchmark would count.
      const later = (answer: () => void) => (state.delayMs > 0 ? setTimeout(answer, state.delayMs) : answer());
      later(() => {
        if (state.fail !== undefined) {
          res.writeHead(state.fail, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error' } }));
          return;
        }
        if (req.method !== 'POST' || !req.url?.endsWith('/embeddings')) {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { input: string | string[]; model: string; encoding_format?: string };
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        state.inputs.push(...inputs);
        const data = inputs.map((text, index) => {
          const v = vectorOf(text);
          return { object: 'embedding', index, embedding: body.encoding_format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) };
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  return {
    baseUrl,
    dims,
    get fail() {
      return state.fail;
    },
    set fail(status) {
      state.fail = status;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms) {
      state.delayMs = ms;
    },
    inputs: state.inputs,
    env: () => ({
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_OPENAI_BASE_URL: baseUrl,
      EMBEDDING_OPENAI_MODEL: options.model ?? 'test-hash',
      EMBEDDING_DIMENSIONS: String(dims),
      EMBEDDING_RETRIES: '0',
      EMBEDDING_TIMEOUT_MS: '10000',
    }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
