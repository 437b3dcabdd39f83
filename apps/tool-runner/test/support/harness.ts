import { create, fromJson, toJson, type JsonValue } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { describeConnectError, type DescribedError } from '@csda/errors';
import { ExecuteToolJobSchema } from '@csda/proto/csda/jobs/v1/tool_jobs_pb.js';
import { ToolInputSchema, ToolRunnerService, type Execution, type ToolInput } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { connectNats, publishProto, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, outboxResourceChanges, publishedResourceChanges, query, runCommand, startService, testNamespace, type ResourceChange, type RunningService, type TestDatabase, type TestKeys } from '@csda/testing';
import type { MessageInitShape } from '@bufbuild/protobuf';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
export const user = (name: string, roles: string[] = ['USER']): Principal => ({ kind: 'user', id: `user-${name}`, name, roles, permissions: perms('USER') });

export type ToolRunner = RunningService & { stop(): Promise<number | null>; client: Client<typeof ToolRunnerService> };

export interface Harness {
  readonly db: TestDatabase;
  readonly namespace: string;
  readonly nats: Nats;
  readonly env: Record<string, string>;
  readonly keys: TestKeys;
  start(extraEnv?: Record<string, string>): Promise<ToolRunner>;
  as(p: Principal): Promise<{ headers: Record<string, string> }>;
  /** Call options signed by the gateway for `p`, for another service (e.g. the vault). */
  asFor(p: Principal, audience: string): Promise<{ headers: Record<string, string> }>;
  publishJob(job: MessageInitShape<typeof ExecuteToolJobSchema>, msgId: string): Promise<void>;
  audits(resource: string): Promise<{ action: string; details: Record<string, string> }[]>;
  /** ResourceChanged events the tool-runner wrote to its outbox, oldest first, with their subject; `toolId` narrows them to one tool. */
  changes(toolId?: string): Promise<ResourceChange[]>;
  /** ResourceChanged events about `toolId` the relay published on EVENTS, in stream order. */
  published(toolId: string): Promise<ResourceChange[]>;
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

/** A ToolInput from plain JSON-ish fields. */
export function toolInput(t: Omit<MessageInitShape<typeof ToolInputSchema>, 'config' | 'inputSchema'> & { config?: Record<string, unknown>; inputSchema?: Record<string, unknown> }): ToolInput {
  return create(ToolInputSchema, t as MessageInitShape<typeof ToolInputSchema>);
}

export const value = (v: unknown) => fromJson(ValueSchema, v as JsonValue);
export const json = (e: Execution | undefined, field: 'output' | 'input' = 'output') => (e?.[field] ? toJson(ValueSchema, e[field]) : undefined);

export async function startHarness(label: string, baseEnv: Record<string, string> = {}): Promise<Harness> {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const db = await createTestDatabase(label);
  const env = {
    ...keys.envFor('tool-runner'),
    DATABASE_URL: db.url,
    NATS_NAMESPACE: namespace,
    NATS_URL: natsUrl(),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    // No vault in most files: a tool with secrets fails to save/run with the vault unavailable.
    VAULT_URL: 'http://127.0.0.1:9',
    ...baseEnv,
  };
  const migrated = await runCommand('tool-runner', 'migrate', env);
  if (migrated.code !== 0) throw new Error(`tool-runner migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
  const nats = await connectNats(natsUrl(), `test-${label}`, namespace);
  const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const runners: ToolRunner[] = [];
  const allLogs: (() => string)[] = [];
  return {
    db,
    namespace,
    nats,
    env,
    keys,
    async start(extraEnv = {}) {
      const service = await startService('tool-runner', { ...env, ...extraEnv });
      allLogs.push(service.logs);
      const runner = { ...service, client: createClient(ToolRunnerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.rpcPort}` })) };
      runners.push(runner);
      return runner;
    },
    as: async (p) => ({ headers: principalHeaders(await gateway.sign(p, 'tool-runner')) }),
    asFor: async (p, audience) => ({ headers: principalHeaders(await gateway.sign(p, audience)) }),
    async publishJob(job, msgId) {
      await publishProto(nats, nats.subjects.subject('csda.jobs.tools.execute'), ExecuteToolJobSchema, create(ExecuteToolJobSchema, job), { eventId: msgId });
    },
    async audits(resource) {
      const { fromBinary } = await import('@bufbuild/protobuf');
      const { AuditEventSchema } = await import('@csda/proto/csda/events/v1/audit_event_pb.js');
      const rows = await query<{ payload: Buffer }>(db.url, `select payload from tools.outbox where event_type = 'csda.events.v1.AuditEvent' and aggregate = $1 order by id`, [resource]);
      return rows.map((r) => fromBinary(AuditEventSchema, r.payload)).map((a) => ({ action: a.action, details: { ...a.details } }));
    },
    changes: (toolId) => outboxResourceChanges(db.url, 'tools', toolId ? `tool:${toolId}` : undefined),
    published: (toolId) => publishedResourceChanges(nats.jsm, nats.subjects.stream('EVENTS'), toolId),
    logs: () => allLogs.map((l) => l()).join('\n'),
    async close() {
      if (process.env.DEBUG_LOGS) console.log(allLogs.map((l) => l()).join('\n'));
      await Promise.all(runners.filter((r) => r.process.exitCode === null && r.process.signalCode === null).map((r) => r.stop()));
      await nats.connection.close();
      await db.drop();
      await deleteNamespace(namespace);
    },
  };
}
