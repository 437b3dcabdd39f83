// A local OpenAI-compatible /v1/embeddings server for the search benchmark:
// the search service embeds each query text through its real openai provider,
// and the text `q:<i> …` comes back as the i-th synthetic query vector, so
// queries land where the clustered data is (and 1,536 dimensions need no model).
import { createServer } from 'node:http';

export async function startBenchEmbedder(queries: readonly Float32Array[]): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { input: string | string[]; model: string };
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      const data = inputs.map((text, index) => {
        const i = Number(/^q:(\d+)/.exec(text)?.[1] ?? 0);
        return { object: 'embedding', index, embedding: Array.from(queries[i % queries.length]!) };
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 0, total_tokens: 0 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { baseUrl: `http://127.0.0.1:${port}/v1`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
