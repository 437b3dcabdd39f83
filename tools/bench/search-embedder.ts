// The query embedder of the search benchmark: libs/testing's local
// OpenAI-compatible /v1/embeddings stand-in, where each query text comes back
// as its synthetic query vector, so queries land where the clustered data is
// (and 1,536 dimensions need no model). The texts are the ones the raw SQL
// rows rank too: nothing is added to them to find their vectors.
import { startEmbeddingServer } from '@csda/testing';

export async function startBenchEmbedder(queries: ReadonlyMap<string, Float32Array>): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const dims = queries.values().next().value?.length ?? 1;
  const server = await startEmbeddingServer({ dims, vectorFor: (text) => queries.get(text) });
  return { baseUrl: server.baseUrl, close: () => server.close() };
}
