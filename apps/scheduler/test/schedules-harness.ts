import { randomUUID } from 'node:crypto';
import { ConnectError, createClient, createRouterTransport, type Client, type Code } from '@connectrpc/connect';
import { createInternalTokenSigner, parsePrivateKey, parseSigningKey, parseVerifyKeys, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { ErrorDetailSchema } from '@csda/proto/csda/common/v1/error_detail_pb.js';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import type { Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import {
  createLogger,
  createMetrics,
  createServiceClient,
  internalAuthInterceptor,
  loadInternalIdentity,
  migrate,
  openDatabase,
  serverInterceptor,
  type MikroORM,
} from '@csda/service-kit';
import { createTestDatabase, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace, deleteNamespace, type TestDatabase } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import { expect } from 'vitest';
import { createClients, type SchedulerClients } from '../src/clients.ts';
import { Migration20261203020000Schedules } from '../src/migrations/Migration20261203020000-schedules.ts';
import { migrations as serviceMigrations } from '../src/migrations/index.ts';
import { createSchedulesRpc } from '../src/schedules/schedules.rpc.ts';

const perms = (role: string) => [...(SEEDED_ROLES.find((r) => r.name === role)?.permissions ?? [])];

/** A user as the gateway names them (ids are UUIDs, as GetUsers requires). */
export const user = (name: string, role = 'USER', permissions = perms(role)): Principal => ({ kind: 'user', id: randomUUID(), name, roles: [role], permissions });

const SCHEDULES_MIGRATION = 'Migration20261203020000-schedules';

type Audience = 'scheduler' | 'vault' | 'tool-runner' | 'document-ingest';

/** The service's migrations, with this piece's own until the integrator lists it in migrations/index.ts. */
export const migrations = serviceMigrations.some((m) => m.name === SCHEDULES_MIGRATION)
  ? serviceMigrations
  : [...serviceMigrations, { name: SCHEDULES_MIGRATION, class: Migration20261203020000Schedules }];

/** A settable clock shared by the RPCs and the loop. */
export function fakeClock(start: string) {
  let now = new Date(start);
  return {
    now: () => new Date(now),
    set: (iso: string) => (now = new Date(iso)),
  };
}

export interface SchedulesHarness {
  readonly db: TestDatabase;
  readonly logger: ReturnType<typeof createLogger>;
  /** A fresh ORM (own pool): one per simulated scheduler replica. */
  openOrm(): Promise<MikroORM>;
  readonly orm: MikroORM;
  readonly clients: SchedulerClients;
  /** Environment a scheduler runtime of this harness runs with (keys, database, vault URL). */
  readonly schedulerEnv: Record<string, string>;
  readonly vault: Client<typeof VaultService>;
  /** A real tool-runner process (option `toolRunnerEnv`); absent otherwise (the scheduler's TOOL_RUNNER_URL then points nowhere). */
  readonly toolRunner?: Client<typeof ToolRunnerService>;
  /** A real document-ingest process (option `documentIngestEnv`); absent otherwise (DOCUMENT_INGEST_URL then points nowhere). */
  readonly documents?: Client<typeof DocumentIngestService>;
  readonly clock: ReturnType<typeof fakeClock>;
  /** SchedulerService's schedule RPCs over an in-memory Connect transport, with the real auth and error interceptors. */
  readonly scheduler: Client<typeof SchedulerService>;
  /** Call options for `principal` as the gateway signs them for `audience`. */
  as(principal: Principal, audience?: Audience): Promise<{ headers: Record<string, string> }>;
  /** A secret of `owner` in the vault, rotating with `strategy` (default random). */
  createSecret(owner: Principal, name: string, strategy?: string): Promise<Secret>;
  sql<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/**
 * A scheduler database migrated to the current schema, a real vault process
 * (its own NATS namespace), with `toolRunnerEnv` a real tool-runner process
 * too (same database and namespace, that extra environment), likewise with
 * `documentIngestEnv` a real document-ingest process, the scheduler's
 * real identity and clients, and the schedule RPCs served through the
 * production interceptors.
 */
export async function openSchedulesHarness(
  clockStart: string,
  options: { vaultNamespace?: string; toolRunnerEnv?: Record<string, string>; documentIngestEnv?: Record<string, string>; searchEnv?: Record<string, string> } = {},
): Promise<SchedulesHarness> {
  const keys = generateTestKeys();
  // Its own namespace by default, so the vault's rotation workers never see the jobs a test publishes.
  const vaultNamespace = options.vaultNamespace ?? testNamespace();
  const db = await createTestDatabase('scheduler_schedules');
  // Error only: the loop's expected warnings (an unavailable vault, retried) would drown the test output.
  const logger = createLogger({ service: 'scheduler', level: 'error' });
  const orms: MikroORM[] = [];
  const openOrm = async () => {
    // Small pools: several replicas per test file, and other suites share the server's connections.
    const orm = await openDatabase({ url: db.url, schema: 'scheduler', entities: [], migrations, logger, poolMax: 6 });
    orms.push(orm);
    return orm;
  };
  const orm = await openOrm();
  await migrate(orm, db.url, 'scheduler');

  const vaultEnv = { ...keys.envFor('vault'), DATABASE_URL: db.url, NATS_NAMESPACE: vaultNamespace, NATS_URL: natsUrl() };
  const migrated = await runCommand('vault', 'migrate', vaultEnv);
  expect(migrated.code, migrated.stderr + migrated.stdout).toBe(0);
  const vaultService = await startService('vault', { ...vaultEnv, NODE_ENV: 'production', LOG_LEVEL: 'warn' });
  const vaultUrl = `http://127.0.0.1:${vaultService.rpcPort}`;
  let toolRunnerService: Awaited<ReturnType<typeof startService>> | undefined;
  if (options.toolRunnerEnv) {
    const env = { ...keys.envFor('tool-runner'), DATABASE_URL: db.url, NATS_NAMESPACE: vaultNamespace, NATS_URL: natsUrl(), VAULT_URL: vaultUrl, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...options.toolRunnerEnv };
    const toolsMigrated = await runCommand('tool-runner', 'migrate', env);
    expect(toolsMigrated.code, toolsMigrated.stderr + toolsMigrated.stdout).toBe(0);
    toolRunnerService = await startService('tool-runner', env);
  }
  // Nothing listens on port 9: without a tool-runner, run_tool targets meet an unavailable service.
  const toolRunnerUrl = toolRunnerService ? `http://127.0.0.1:${toolRunnerService.rpcPort}` : 'http://127.0.0.1:9';
  let ingestService: Awaited<ReturnType<typeof startService>> | undefined;
  if (options.documentIngestEnv) {
    const env = { ...keys.envFor('document-ingest'), DATABASE_URL: db.url, NATS_NAMESPACE: vaultNamespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...options.documentIngestEnv };
    const ingestMigrated = await runCommand('document-ingest', 'migrate', env);
    expect(ingestMigrated.code, ingestMigrated.stderr + ingestMigrated.stdout).toBe(0);
    ingestService = await startService('document-ingest', env);
  }
  const documentIngestUrl = ingestService ? `http://127.0.0.1:${ingestService.rpcPort}` : 'http://127.0.0.1:9';
  // A real search process (option `searchEnv`, with document-ingest): it indexes the versions, so they become ready.
  let searchService: Awaited<ReturnType<typeof startService>> | undefined;
  if (options.searchEnv) {
    const env = { ...keys.envFor('search'), DATABASE_URL: db.url, NATS_NAMESPACE: vaultNamespace, NATS_URL: natsUrl(), NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...options.searchEnv };
    const searchMigrated = await runCommand('search', 'migrate', env);
    expect(searchMigrated.code, searchMigrated.stderr + searchMigrated.stdout).toBe(0);
    searchService = await startService('search', env);
  }

  const identity = await loadInternalIdentity(
    'scheduler',
    { INTERNAL_VERIFY_KEYS: parseVerifyKeys(keys.env.INTERNAL_VERIFY_KEYS), INTERNAL_SIGNING_KEY: parsePrivateKey(keys.signingKeys.scheduler!), NODE_ENV: 'production', CSDA_DATA_DIR: '/nonexistent' },
    () => undefined,
  );
  const clients = createClients({ identity, metrics: createMetrics('scheduler') }, { VAULT_URL: vaultUrl, GATEWAY_URL: 'http://127.0.0.1:9', TOOL_RUNNER_URL: toolRunnerUrl, DOCUMENT_INGEST_URL: documentIngestUrl });
  const gateway = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  const as = async (principal: Principal, audience: Audience = 'scheduler') => ({ headers: principalHeaders(await gateway.sign(principal, audience)) });
  const clock = fakeClock(clockStart);

  const transport = createRouterTransport(
    (router) => {
      router.service(SchedulerService, createSchedulesRpc({ em: () => orm.em.fork() as EntityManager, vault: clients.vault, toolRunner: clients.toolRunner, documents: clients.documents, asUser: clients.asUser, clock: clock.now }));
    },
    { router: { interceptors: [serverInterceptor(logger, false), internalAuthInterceptor(identity)] } },
  );
  const vault = createServiceClient(VaultService, vaultUrl);

  return {
    db,
    logger,
    openOrm,
    orm,
    clients,
    schedulerEnv: { ...keys.envFor('scheduler'), DATABASE_URL: db.url, NATS_URL: natsUrl(), VAULT_URL: vaultUrl, GATEWAY_URL: 'http://127.0.0.1:9', TOOL_RUNNER_URL: toolRunnerUrl, DOCUMENT_INGEST_URL: documentIngestUrl, NODE_ENV: 'production', LOG_LEVEL: 'warn' },
    vault,
    toolRunner: toolRunnerService ? createServiceClient(ToolRunnerService, toolRunnerUrl) : undefined,
    documents: ingestService ? createServiceClient(DocumentIngestService, documentIngestUrl) : undefined,
    clock,
    scheduler: createClient(SchedulerService, transport),
    as,
    async createSecret(owner, name, strategy = 'random') {
      const { secret } = await vault.createSecret({ name, value: `value-of-${name}`, rotation: { strategy } }, await as(owner, 'vault'));
      return secret!;
    },
    sql: (text, params = []) => query(db.url, text, params),
    async close() {
      for (const o of orms) await o.close(true);
      await toolRunnerService?.stop();
      await ingestService?.stop();
      await searchService?.stop();
      await vaultService.stop();
      await db.drop();
      if (!options.vaultNamespace) await deleteNamespace(vaultNamespace);
    },
  };
}

/** The Connect code and the ErrorDetail fields of a failed call. */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; fields: Record<string, string>; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, fields: { ...(e.findDetails(ErrorDetailSchema)[0]?.details ?? {}) }, message: e.rawMessage };
  }
  throw new Error('expected the call to fail');
}
