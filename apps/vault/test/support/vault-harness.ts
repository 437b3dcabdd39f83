import { fromBinary, create } from '@bufbuild/protobuf';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, servicePrincipal, type Principal } from '@csda/auth';
import { describeConnectError, type DescribedError } from '@csda/errors';
import { AuditEventSchema } from '@csda/proto/csda/events/v1/audit_event_pb.js';
import { JobResultSchema, type JobResult } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { RotateSecretJobSchema, type RotateSecretJob } from '@csda/proto/csda/jobs/v1/secret_jobs_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { connectNats, publishProto, type Nats } from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, outboxResourceChanges, publishedResourceChanges, query, runCommand, startService, testNamespace, type ResourceChange, type RunningService, type TestDatabase } from '@csda/testing';
import type { MessageInitShape } from '@bufbuild/protobuf';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];
export const user = (name: string): Principal => ({ kind: 'user', id: `user-${name}`, name, roles: ['USER'], permissions: perms('USER') });
export const admin: Principal = { kind: 'user', id: 'user-admin', name: 'admin', roles: ['ADMIN'], permissions: perms('ADMIN') };

export type Vault = RunningService & { stop(): Promise<number | null>; client: Client<typeof VaultService> };

/** One test file's vault world: its database, NATS namespace and keys; vault processes started on demand. */
export interface VaultHarness {
  readonly db: TestDatabase;
  readonly namespace: string;
  readonly nats: Nats;
  readonly env: Record<string, string>;
  start(extraEnv?: Record<string, string>): Promise<Vault>;
  /** Call options signed by the gateway for a user. */
  as(p: Principal): Promise<{ headers: Record<string, string> }>;
  /** Call options with the scheduler's own service identity (or another principal it signs, e.g. acting for a user). */
  asScheduler(principal?: Principal): Promise<{ headers: Record<string, string> }>;
  /** Call options signed by the tool-runner for `principal` (its own identity, e.g. acting for a user). */
  asToolRunner(principal: Principal): Promise<{ headers: Record<string, string> }>;
  publishJob(job: MessageInitShape<typeof RotateSecretJobSchema>, msgId?: string): Promise<void>;
  /** JobResults the vault wrote to its outbox for `jobId`, oldest first. */
  jobResults(jobId: string): Promise<JobResult[]>;
  /** Audit records (action, details) in the outbox for a secret. */
  audits(secretId: string): Promise<{ action: string; actor: string; outcome: string; details: Record<string, string> }[]>;
  /** Outbox rows by subject tail (e.g. `csda.events.vault.secret.rotated`). */
  events(subjectTail: string): Promise<{ eventId: string; eventType: string; payload: Buffer }[]>;
  /** ResourceChanged events in the outbox, oldest first, with their subject; `secretId` narrows them to one secret. */
  changes(secretId?: string): Promise<ResourceChange[]>;
  /** ResourceChanged events about `secretId` the relay published on EVENTS, in stream order. */
  published(secretId: string): Promise<ResourceChange[]>;
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

export async function startHarness(label: string, baseEnv: Record<string, string> = {}): Promise<VaultHarness> {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const db = await createTestDatabase(label);
  const env = { ...keys.envFor('vault'), DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'info', ...baseEnv };
  const migrated = await runCommand('vault', 'migrate', env);
  if (migrated.code !== 0) throw new Error(`vault migrate exited ${migrated.code}: ${migrated.stderr}${migrated.stdout}`);
  const nats = await connectNats(natsUrl(), `test-${label}`, namespace);
  const signer = (issuer: string) => createInternalTokenSigner({ key: parseSigningKey(issuer, keys.signingKeys[issuer]!) });
  const gateway = signer('gateway');
  const scheduler = signer('scheduler');
  const toolRunner = signer('tool-runner');
  const vaults: Vault[] = [];
  const allLogs: (() => string)[] = [];
  const outbox = (where: string, params: unknown[]) =>
    query<{ event_id: string; event_type: string; payload: Buffer; subject: string }>(db.url, `select event_id, event_type, payload, subject from vault.outbox where ${where} order by id`, params);

  return {
    db,
    namespace,
    nats,
    env,
    async start(extraEnv = {}) {
      const service = await startService('vault', { ...env, ...extraEnv });
      allLogs.push(service.logs);
      const vault = { ...service, client: createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.rpcPort}` })) };
      vaults.push(vault);
      return vault;
    },
    as: async (p) => ({ headers: principalHeaders(await gateway.sign(p, 'vault')) }),
    asScheduler: async (principal) => ({ headers: principalHeaders(await scheduler.sign(principal ?? servicePrincipal('scheduler', []), 'vault')) }),
    asToolRunner: async (principal) => ({ headers: principalHeaders(await toolRunner.sign(principal, 'vault')) }),
    async publishJob(job, msgId) {
      const message: RotateSecretJob = create(RotateSecretJobSchema, { enqueuedAtMs: BigInt(Date.now()), ...job });
      await publishProto(nats, nats.subjects.subject('csda.jobs.secrets.rotate'), RotateSecretJobSchema, message, { eventId: msgId ?? message.jobId });
    },
    async jobResults(jobId) {
      const rows = await outbox(`event_type = 'csda.events.v1.JobResult' and event_id like ?`.replace('?', '$1'), [`${jobId}:%`]);
      return rows.map((r) => fromBinary(JobResultSchema, r.payload)).filter((r) => r.jobId === jobId);
    },
    async audits(secretId) {
      const rows = await outbox(`event_type = 'csda.events.v1.AuditEvent' and aggregate = $1`, [`secret:${secretId}`]);
      return rows.map((r) => fromBinary(AuditEventSchema, r.payload)).map((a) => ({ action: a.action, actor: a.actor, outcome: a.outcome, details: { ...a.details } }));
    },
    async events(subjectTail) {
      const rows = await outbox('subject = $1', [`${namespace}.${subjectTail}`]);
      return rows.map((r) => ({ eventId: r.event_id, eventType: r.event_type, payload: r.payload }));
    },
    changes: (secretId) => outboxResourceChanges(db.url, 'vault', secretId ? `secret:${secretId}` : undefined),
    published: (secretId) => publishedResourceChanges(nats.jsm, nats.subjects.stream('EVENTS'), secretId),
    logs: () => allLogs.map((l) => l()).join('\n'),
    async close() {
      if (process.env.DEBUG_LOGS) console.log(allLogs.map((l) => l()).join('\n'));
      // (a vault a test killed has a signalCode and no exitCode: nothing left to stop)
      await Promise.all(vaults.filter((v) => v.process.exitCode === null && v.process.signalCode === null).map((v) => v.stop()));
      await nats.connection.close();
      await db.drop();
      await deleteNamespace(namespace);
    },
  };
}

/** Sets columns of a secret row directly (time travel for due and expiry cases). */
export async function setRow(db: TestDatabase, id: string, sql: string, params: unknown[] = []): Promise<void> {
  await query(db.url, `update vault.secrets set ${sql} where id = $${params.length + 1}`, [...params, id]);
}
