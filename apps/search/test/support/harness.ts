import { fromBinary } from '@bufbuild/protobuf';
import { DocumentIndexedSchema, type DocumentIndexed } from '@csda/proto/csda/search/v1/index_pb.js';
import { connectNats, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace, waitFor, type RunningService, type TestDatabase, type TestKeys } from '@csda/testing';
import { createIndexPublisher, type AccessInput, type IndexPublisher, type VersionInput } from './publisher.ts';

export type SearchProcess = RunningService & { stop(): Promise<number | null> };

export interface SearchHarness {
  readonly db: TestDatabase;
  readonly namespace: string;
  readonly nats: Nats;
  readonly env: Record<string, string>;
  readonly keys: TestKeys;
  readonly publisher: IndexPublisher;
  /** Starts a search replica (`serve`) and waits until it is ready. */
  start(extraEnv?: Record<string, string>): Promise<SearchProcess>;
  sql<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** Every DocumentIndexed on EVENTS so far, in stream order. */
  indexed(): Promise<DocumentIndexed[]>;
  /** Waits until `documentId` has `version` live (or throws naming it). */
  waitLive(documentId: string, version: number, timeoutMs?: number): Promise<void>;
  /** Waits until `durable` (on `stream`, default JOBS_SEARCH) has nothing pending or unacknowledged. */
  waitDrained(durable?: string, stream?: string, timeoutMs?: number): Promise<void>;
  /** Messages dead-lettered by `durable`, with the reason header. */
  deadLetters(durable: string): Promise<{ subject: string; reason: string }[]>;
  logs(): string;
  close(): Promise<void>;
}

/** Stream messages whose subject is `subject`, read by sequence (test streams are small). */
async function streamMessages(nats: Nats, stream: string, subject: string): Promise<{ data: Uint8Array; reason: string; subject: string }[]> {
  const info = await nats.jsm.streams.info(stream).catch(() => undefined);
  if (!info) return [];
  const out: { data: Uint8Array; reason: string; subject: string }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const msg = await nats.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (msg?.subject === subject) out.push({ data: msg.data, reason: msg.header?.get('Csda-Dead-Letter-Reason') ?? '', subject: msg.header?.get('Csda-Dead-Letter-Subject') ?? msg.subject });
  }
  return out;
}

/** The index side needs no model: an OpenAI-compatible provider nobody listens on keeps the local one unloaded. */
export const NO_MODEL_ENV: Readonly<Record<string, string>> = {
  EMBEDDING_PROVIDER: 'openai',
  EMBEDDING_OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
  EMBEDDING_OPENAI_MODEL: 'none',
  EMBEDDING_DIMENSIONS: '512',
};

export async function startHarness(label: string, baseEnv: Record<string, string> = {}): Promise<SearchHarness> {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const db = await createTestDatabase(label);
  const env = {
    ...keys.envFor('search'),
    DATABASE_URL: db.url,
    NATS_NAMESPACE: namespace,
    NATS_URL: natsUrl(),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    ...NO_MODEL_ENV,
    ...baseEnv,
  };
  const migrated = await runCommand('search', 'migrate', env);
  if (migrated.code !== 0) throw new Error(`search migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
  const nats = await connectNats(natsUrl(), `test-${label}`, namespace);
  const replicas: SearchProcess[] = [];
  const logs: (() => string)[] = [];
  const sql = <R extends object>(text: string, params: unknown[] = []) => query<R & Record<string, unknown>>(db.url, text, params) as Promise<R[]>;
  return {
    db,
    namespace,
    nats,
    env,
    keys,
    publisher: createIndexPublisher(nats),
    async start(extraEnv = {}) {
      const replica = await startService('search', { ...env, ...extraEnv });
      logs.push(replica.logs);
      replicas.push(replica);
      return replica;
    },
    sql,
    async indexed() {
      const messages = await streamMessages(nats, nats.subjects.stream('EVENTS'), nats.subjects.subject('csda.events.search.document.indexed'));
      return messages.map((m) => fromBinary(DocumentIndexedSchema, m.data));
    },
    async waitLive(documentId, version, timeoutMs = 30_000) {
      await waitFor(async () => (await sql<{ v: number | null }>('select live_version as v from search.documents where document_id = $1', [documentId]))[0]?.v === version, {
        timeoutMs,
        what: `document ${documentId} v${version} live`,
      });
    },
    async waitDrained(durable = 'search-index-jobs', stream = 'JOBS_SEARCH', timeoutMs = 30_000) {
      await waitFor(
        async () => {
          const info = await nats.jsm.consumers.info(nats.subjects.stream(stream), durable).catch(() => undefined);
          return info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0;
        },
        { timeoutMs, what: `${durable} drained` },
      );
    },
    async deadLetters(durable) {
      return (await streamMessages(nats, nats.subjects.stream('DEAD_LETTER'), nats.subjects.deadLetter(durable))).map(({ subject, reason }) => ({ subject, reason }));
    },
    logs: () => logs.map((l) => l()).join('\n'),
    async close() {
      if (process.env.DEBUG_LOGS) console.log(logs.map((l) => l()).join('\n'));
      await Promise.all(replicas.filter((r) => r.process.exitCode === null && r.process.signalCode === null).map((r) => r.stop()));
      await nats.connection.close();
      await db.drop();
      await deleteNamespace(namespace);
    },
  };
}

/** A deterministic pseudo-random unit vector (xorshift32 seeded by `seed`). */
export function unitVector(seed: number, dims = 512): Float32Array {
  let x = (seed * 2_654_435_761) >>> 0 || 1;
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    v[i] = x / 4_294_967_296 - 0.5;
    norm += (v[i] as number) ** 2;
  }
  const n = Math.sqrt(norm);
  for (let i = 0; i < dims; i++) v[i] = (v[i] as number) / n;
  return v;
}

export const MODEL = 'test:unit-vectors@1';

/**
 * A version of `chunks` chunks whose content names the version (`v<version> chunk <i> …`),
 * each with `passages` vectors of `dims` dimensions.
 */
export function makeVersion(documentId: string, version: number, options: { chunks: number; access: AccessInput; dims?: number; passages?: number; words?: string }): VersionInput {
  const dims = options.dims ?? 512;
  return {
    documentId,
    version,
    model: MODEL,
    dimensions: dims,
    access: options.access,
    chunks: Array.from({ length: options.chunks }, (_, i) => ({
      content: `v${version} chunk ${i} ${options.words ?? 'quantum entanglement of photons'}`,
      headingPath: ['Results', `Section ${i % 7}`],
      pageStart: 1 + Math.floor(i / 10),
      pageEnd: 1 + Math.floor(i / 10),
      passages: Array.from({ length: options.passages ?? 1 }, (_, p) => unitVector(version * 1_000_003 + i * 31 + p + 1, dims)),
    })),
  };
}

/**
 * The BM25 statistics recomputed from the live rows, next to what the index
 * keeps: equal when every transaction kept them right.
 */
export async function statsDrift(h: Pick<SearchHarness, 'sql'>): Promise<{ kept: unknown; actual: unknown; termsDiffer: string[] }> {
  const [kept] = await h.sql<{ docs: string; length: string }>('select total_docs::text as docs, total_length::text as length from search.stats');
  const [actual] = await h.sql<{ docs: string; length: string }>('select count(*)::text as docs, coalesce(sum(doc_length), 0)::text as length from search.chunks where live');
  const termsDiffer = await h.sql<{ lexeme: string }>(
    `with actual as (select t.lexeme, count(*)::int as df from search.chunks c, unnest(c.tsv) t where c.live group by t.lexeme)
     select coalesce(a.lexeme, k.lexeme) as lexeme from actual a full join search.terms k on k.lexeme = a.lexeme
     where a.df is distinct from k.df limit 20`,
  );
  return { kept, actual, termsDiffer: termsDiffer.map((r) => r.lexeme) };
}
