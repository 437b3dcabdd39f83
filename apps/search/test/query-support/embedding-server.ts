// A local OpenAI-compatible `/v1/embeddings` server for the query tests: the
// search service's real openai provider (@csda/embeddings) talks to it over
// HTTP on 127.0.0.1. A text starting `vec:<seed>` embeds as unitVector(seed) (the
// vectors the index tests publish), any other text as a vector seeded by its
// hash; `fail` makes it answer an HTTP error, as a provider that is down.
import { createServer, type Server } from 'node:http';
import { unitVector } from '../support/harness.ts';

export interface EmbeddingServer {
  /** Base URL for EMBEDDING_OPENAI_BASE_URL (ends in /v1). */
  readonly baseUrl: string;
  /** When set, every request is answered with this status and an error body. */
  fail: number | undefined;
  /** Texts embedded so far, in order. */
  readonly inputs: string[];
  close(): Promise<void>;
}

const fnv1a = (text: string) => {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
};

/** The vector the server returns for `text`. */
export function embeddingOf(text: string, dims: number): Float32Array {
  const seed = /^vec:(\d+)(?!\d)/.exec(text);
  return unitVector(seed ? Number(seed[1]) : fnv1a(text), dims);
}

export async function startEmbeddingServer(dims: number): Promise<EmbeddingServer> {
  const state: { fail: number | undefined; inputs: string[] } = { fail: undefined, inputs: [] };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
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
        const v = embeddingOf(text, dims);
        return { object: 'embedding', index, embedding: body.encoding_format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) };
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    get fail() {
      return state.fail;
    },
    set fail(status) {
      state.fail = status;
    },
    inputs: state.inputs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
