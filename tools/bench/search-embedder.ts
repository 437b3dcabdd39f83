// The query embedder of the search benchmark: libs/testing's local
// OpenAI-compatible /v1/embeddings stand-in, where the text `q:<i> …` comes
// back as the i-th synthetic query vector, so queries land where the
// clustered data is (and 1,536 dimensions need no model).
import { startEmbeddingServer } from '@csda/testing';

export async function startBenchEmbedder(queries: readonly Float32Array[]): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = await startEmbeddingServer({ dims: queries[0]?.length ?? 1, vectorFor: (text) => queries[Number(/^q:(\d+)/.exec(text)?.[1] ?? 0) % queries.length] });
  return { baseUrl: server.baseUrl, close: () => server.close() };
}
