// A local server speaking the OpenAI /v1/embeddings protocol on 127.0.0.1,
// scripted per request: tests queue what the next answers are.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vectorOf } from './fake-vectors.ts';

export type Behaviour =
  | { kind: 'ok'; dims?: number; shuffle?: boolean; base64?: boolean }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'hang' } // accept the request, never answer
  | { kind: 'reset' } // drop the connection
  | { kind: 'raw'; body: string }; // 200 with this body

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: { model?: string; input?: string[]; dimensions?: number; encoding_format?: string };
}

export interface EmbeddingsServer {
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  /** Answers for the next requests, in order; afterwards `fallback`. */
  script(...behaviours: Behaviour[]): void;
  fallback: Behaviour;
  /** The unit vector the server's default answer holds for `text`. */
  expected(text: string, dims?: number): Float32Array;
  close(): Promise<void>;
}

export async function startEmbeddingsServer(dims = 8): Promise<EmbeddingsServer> {
  const queue: Behaviour[] = [];
  const requests: RecordedRequest[] = [];
  const hanging = new Set<() => void>();
  const state = { fallback: { kind: 'ok' } as Behaviour };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as RecordedRequest['body'];
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const behaviour = queue.shift() ?? state.fallback;
      switch (behaviour.kind) {
        case 'ok': {
          const size = behaviour.dims ?? dims;
          const data = (body.input ?? []).map((text, index) => {
            // Not unit length on the wire: the client must normalise.
            const vector = Array.from(vectorOf(text, size), (x) => x * 3);
            return { object: 'embedding', index, embedding: behaviour.base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector };
          });
          if (behaviour.shuffle) data.reverse();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
          return;
        }
        case 'status':
          res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers });
          res.end(behaviour.body ?? JSON.stringify({ error: { message: `status ${behaviour.status}` } }));
          return;
        case 'raw':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(behaviour.body);
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          hanging.add(() => res.destroy());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    script: (...behaviours) => queue.push(...behaviours),
    get fallback() {
      return state.fallback;
    },
    set fallback(b: Behaviour) {
      state.fallback = b;
    },
    expected: (text, size = dims) => vectorOf(text, size),
    close: async () => {
      for (const drop of hanging) drop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
