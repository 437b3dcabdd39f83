// The query tests' environment: the index harness (own database, NATS
// namespace, a real search replica consuming JOBS_SEARCH), a local
// OpenAI-compatible embedding server the replica's openai provider embeds
// queries with, a Connect client calling Search as a user the gateway
// signed for, and a direct pool for the SQL-level tests.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, type Principal } from '@csda/auth';
import { SearchRequestSchema, SearchService, type SearchResponse } from '@csda/proto/csda/search/v1/search_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { startEmbeddingServer, type EmbeddingServer } from '@csda/testing';
import pg from 'pg';
import { sqlOver, type Sql } from '../../src/query/sql.ts';
import { startHarness, unitVector, type SearchHarness, type SearchProcess } from '../support/harness.ts';
import type { CorpusDoc } from './corpus.ts';

export const QUERY_MODEL_NAME = 'test-embed';
/** The identity the openai provider gives itself: what the index must record for queries to compare. */
export const QUERY_MODEL = `openai:${QUERY_MODEL_NAME}@512`;

export type SearchRequestInit = Omit<MessageInitShape<typeof SearchRequestSchema>, '$typeName'>;
export type SearchAs = (user: { id: string; roles?: readonly string[]; permissions?: readonly string[] }, req: SearchRequestInit) => Promise<SearchResponse>;

export interface QueryHarness {
  readonly index: SearchHarness;
  readonly embeddings: EmbeddingServer;
  readonly replica: SearchProcess;
  readonly sql: Sql;
  /** Publishes the documents and waits until each is live. */
  load(docs: readonly CorpusDoc[]): Promise<void>;
  /** SearchService.Search on the first replica as `user` (roles, and permissions: search:query unless given). */
  search: SearchAs;
  /** Another replica (other settings), and Search on it. */
  startReplica(env: Record<string, string>): Promise<SearchAs>;
  close(): Promise<void>;
}

export async function startQueryHarness(label: string, env: Record<string, string> = {}): Promise<QueryHarness> {
  // `vec:<seed>` embeds as unitVector(seed), the vectors the index tests publish; other texts are hashed.
  const embeddings = await startEmbeddingServer({
    dims: 512,
    vectorFor: (text, dims) => {
      const seed = /^vec:(\d+)(?!\d)/.exec(text);
      return seed ? unitVector(Number(seed[1]), dims) : undefined;
    },
  });
  const index = await startHarness(label, {
    EMBEDDING_PROVIDER: 'openai',
    EMBEDDING_OPENAI_BASE_URL: embeddings.baseUrl,
    EMBEDDING_OPENAI_MODEL: QUERY_MODEL_NAME,
    EMBEDDING_DIMENSIONS: '512',
    EMBEDDING_RETRIES: '0',
    EMBEDDING_TIMEOUT_MS: '3000',
    SEARCH_PLAN_CACHE_MS: '0',
    ...env,
  });
  const replica = await index.start();
  const pool = new pg.Pool({ connectionString: index.db.url, max: 4, options: '-c jit=off' });
  const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', index.keys.signingKeys.gateway!) });
  const searchOn = (process: SearchProcess): SearchAs => {
    const rpc = createServiceClient(SearchService, `http://127.0.0.1:${process.rpcPort}`);
    return async (user, req) => {
      const principal: Principal = { kind: 'user', id: user.id, name: `user-${user.id.slice(-4)}`, roles: [...(user.roles ?? [])], permissions: [...(user.permissions ?? ['search:query'])] };
      const token = await gateway.sign(principal, 'search');
      return rpc.search(create(SearchRequestSchema, req), { headers: principalHeaders(token) });
    };
  };
  return {
    index,
    embeddings,
    replica,
    sql: sqlOver(pool),
    async load(docs) {
      for (const doc of docs) await index.publisher.publishVersion(doc.version);
      for (const doc of docs) await index.waitLive(doc.documentId, doc.version.version, 60_000);
    },
    search: searchOn(replica),
    startReplica: async (extra) => searchOn(await index.start(extra)),
    async close() {
      await pool.end();
      await index.close();
      await embeddings.close();
    },
  };
}
