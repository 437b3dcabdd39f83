import { ConnectError, type Client } from '@connectrpc/connect';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { describeConnectError, type DescribedError } from '@csda/errors';
import { DocumentIngestService, type Document, type UploadDocumentRequestSchema, type UploadMetadataSchema } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { connectNats, createServiceClient, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, type EmbeddingServer, generateTestKeys, natsUrl, outboxResourceChanges, publishedResourceChanges, query, type ResourceChange, runCommand, type RunningService, startEmbeddingServer, startService, type TestDatabase, testNamespace, waitFor } from '@csda/testing';
import type { MessageInitShape } from '@bufbuild/protobuf';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
export const user = (name: string, roles: string[] = ['USER']): Principal => ({ kind: 'user', id: `user-${name}`, name, roles, permissions: perms('USER') });
export const admin = (name = 'root'): Principal => ({ kind: 'user', id: `user-${name}`, name, roles: ['ADMIN'], permissions: perms('ADMIN') });

type Proc = RunningService & { stop(): Promise<number | null> };
export type Ingest = Proc & { client: Client<typeof DocumentIngestService> };
type CallOptions = { headers: Record<string, string> };

export interface Harness {
  readonly db: TestDatabase;
  readonly nats: Nats;
  readonly env: Record<string, string>;
  readonly embeddings: EmbeddingServer;
  /** Starts a document-ingest replica and waits until it is ready. */
  start(extraEnv?: Record<string, string>): Promise<Ingest>;
  /** Starts a search replica (same database and namespace, same embedding model). */
  startSearch(): Promise<Proc>;
  as(p: Principal, audience?: string): Promise<CallOptions>;
  search(p: Principal, q: string, mode?: string): Promise<{ documentId: string; content: string }[]>;
  sql<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** ResourceChanged events document-ingest wrote to its outbox, oldest first, with their subject; `documentId` narrows them to one document. */
  changes(documentId?: string): Promise<ResourceChange[]>;
  /** document-ingest's ResourceChanged events about `documentId` the relay published on EVENTS, in stream order (other services' events naming it are left out). */
  published(documentId: string): Promise<ResourceChange[]>;
  logs(): string;
  close(): Promise<void>;
}

export async function describeError(promise: Promise<unknown>): Promise<DescribedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(err)}`);
  return describeConnectError(err);
}

export type Meta = MessageInitShape<typeof UploadMetadataSchema>;

/** The upload stream: metadata, then `content` in pieces of `pieceBytes` (or whatever an async source yields), then the end message unless `end` is false (a cancelled upload). */
export async function* uploadStream(
  meta: Meta,
  content: Uint8Array | AsyncIterable<Uint8Array>,
  pieceBytes = 64 * 1024,
  { end = true }: { end?: boolean } = {},
): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
  yield { part: { case: 'metadata', value: meta } };
  if (content instanceof Uint8Array) {
    for (let at = 0; at < content.length; at += pieceBytes) yield { part: { case: 'chunk', value: content.subarray(at, at + pieceBytes) } };
  } else {
    for await (const piece of content) yield { part: { case: 'chunk', value: piece } };
  }
  if (end) yield { part: { case: 'end', value: {} } };
}

export async function upload(ingest: Ingest, options: CallOptions, meta: Meta, content: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ document: Document; duplicate: boolean }> {
  const res = await ingest.client.uploadDocument(uploadStream(meta, content), options);
  return { document: res.document!, duplicate: res.duplicate };
}

/** Waits until the document's status is `status` (or `failed`/`ready` when waiting for the other), returning the document. */
export async function waitStatus(ingest: Ingest, options: CallOptions, id: string, status: string, timeoutMs = 60_000): Promise<Document> {
  let doc: Document | undefined;
  await waitFor(
    async () => {
      doc = (await ingest.client.getDocument({ id }, options)).document;
      const s = doc?.status?.status;
      if (s !== status && (s === 'failed' || s === 'ready')) throw new Error(`document ${id} is ${s}, not ${status}: ${doc?.status?.error}`);
      return s === status;
    },
    { timeoutMs, what: `document ${id} ${status}` },
  );
  return doc!;
}

export async function startHarness(label: string, baseEnv: Record<string, string> = {}): Promise<Harness> {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const db = await createTestDatabase(label);
  const embeddings = await startEmbeddingServer();
  const common = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...embeddings.env() };
  const env: Record<string, string> = { ...keys.envFor('document-ingest'), ...common, DOCUMENT_ACK_WAIT_S: '5', DOCUMENT_CONCURRENCY: '2', ...baseEnv };
  const searchEnv = { ...keys.envFor('search'), ...common };
  for (const [service, e] of [['document-ingest', env], ['search', searchEnv]] as const) {
    const migrated = await runCommand(service, 'migrate', e);
    if (migrated.code !== 0) throw new Error(`${service} migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
  }
  const nats = await connectNats(natsUrl(), `test-${label}`, namespace);
  const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const procs: Proc[] = [];
  const logs: (() => string)[] = [];
  let searchClient: Client<typeof SearchService> | undefined;
  const as = async (p: Principal, audience = 'document-ingest') => ({ headers: principalHeaders(await gateway.sign(p, audience)) });
  return {
    db,
    nats,
    env,
    embeddings,
    async start(extraEnv = {}) {
      const service = await startService('document-ingest', { ...env, ...extraEnv });
      logs.push(() => `--- document-ingest ${service.rpcPort}\n${service.logs()}`);
      procs.push(service);
      return { ...service, client: createServiceClient(DocumentIngestService, `http://127.0.0.1:${service.rpcPort}`) };
    },
    async startSearch() {
      const service = await startService('search', searchEnv);
      logs.push(() => `--- search ${service.rpcPort}\n${service.logs()}`);
      procs.push(service);
      searchClient = createServiceClient(SearchService, `http://127.0.0.1:${service.rpcPort}`);
      return service;
    },
    as,
    async search(p, q, mode = 'keyword') {
      if (!searchClient) throw new Error('no search replica started');
      const res = await searchClient.search({ query: q, mode, topK: 20 }, await as(p, 'search'));
      return res.results.map((r) => ({ documentId: r.documentId, content: r.content }));
    },
    sql: <R extends object>(text: string, params: unknown[] = []) => query<R & Record<string, unknown>>(db.url, text, params) as Promise<R[]>,
    changes: (documentId) => outboxResourceChanges(db.url, 'ingest', documentId ? `document:${documentId}` : undefined),
    async published(documentId) {
      const mine = nats.subjects.subject('csda.events.document-ingest.document.changed');
      return (await publishedResourceChanges(nats.jsm, nats.subjects.stream('EVENTS'), documentId)).filter((e) => e.subject === mine);
    },
    logs: () => logs.map((l) => l()).join('\n'),
    async close() {
      if (process.env.DEBUG_LOGS) console.log(logs.map((l) => l()).join('\n'));
      await Promise.all(procs.filter((r) => r.process.exitCode === null && r.process.signalCode === null).map((r) => r.stop()));
      await nats.connection.close();
      await embeddings.close();
      await db.drop();
      await deleteNamespace(namespace);
    },
  };
}
