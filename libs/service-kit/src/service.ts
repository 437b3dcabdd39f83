import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { DescService } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import type { ServiceInfo } from '@csda/proto/csda/common/v1/service_info_pb.js';
import { ServiceInfoSchema } from '@csda/proto/csda/common/v1/service_info_pb.js';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { Health } from '@csda/proto/grpc/health/v1/health_pb.js';
import type { Logger } from 'pino';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { BaseConfig } from './config.ts';
import {
  assertConnected,
  databaseCheck,
  migrate,
  openDatabase,
  schemaStatus,
  type DatabaseOptions,
  type MikroORM,
  type ServiceSchema,
} from './database.ts';
import { connectNats, ensureStreams, natsAuth, natsCheck, publishProto, type Nats } from './events.ts';
import { createHealthRpc, createHealthState, type HealthState } from './health.ts';
import { permissionDeniedAuditInterceptor, serverInterceptor } from './interceptors.ts';
import { createLifecycle, type Lifecycle } from './lifecycle.ts';
import { internalAuthInterceptor, loadInternalIdentity, type InternalIdentity } from './internal-auth.ts';
import { createLogger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createAuditOutbox, type AuditOutbox } from './audit-outbox.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox.ts';
import { startOpsServer } from './ops-server.ts';
import { connectWithRetry, redactUrl } from './retry.ts';
import { startRpcServer } from './rpc-server.ts';
import { startTelemetry } from './telemetry.ts';

/** What a service is: the static facts its main.ts declares. */
export interface ServiceDefinition {
  readonly name: string;
  readonly version: string;
  readonly schema: ServiceSchema;
  /** The Connect services it serves (health answers for each). */
  readonly rpcServices: readonly DescService[];
  readonly entities: DatabaseOptions['entities'];
  readonly migrations: DatabaseOptions['migrations'];
}

/** The opened resources of a running service, handed to its factories. */
export interface ServiceRuntime<C extends BaseConfig = BaseConfig> {
  readonly definition: ServiceDefinition;
  readonly config: C;
  readonly logger: Logger;
  readonly orm: MikroORM;
  readonly nats: Nats;
  readonly health: HealthState;
  readonly metrics: Metrics;
  readonly lifecycle: Lifecycle;
  /** Verifies callers' tokens; signs this service's own calls when it has a key. */
  readonly identity: InternalIdentity;
  readonly startedAt: number;
}

/**
 * Opens logger, telemetry, database and NATS for `definition`, retrying
 * unreachable dependencies until STARTUP_TIMEOUT_MS, and registers each
 * resource's closer on the lifecycle as soon as it is open.
 */
export async function openRuntime<C extends BaseConfig>(definition: ServiceDefinition, config: C): Promise<ServiceRuntime<C>> {
  const logger = createLogger({ service: definition.name, level: config.LOG_LEVEL });
  const lifecycle = createLifecycle(logger, config.SHUTDOWN_TIMEOUT_MS);
  lifecycle.handleSignals();
  lifecycle.defer('logger', () => logger.flush());
  // Keys first: a bad or missing key fails before any connection is opened.
  const identity = await loadInternalIdentity(definition.name, config, (message) => logger.warn(message));
  logger.info({ trusted_key_ids: identity.trusted, signing_key_id: identity.signer?.kid }, 'internal identity keys loaded');
  const telemetry = await startTelemetry({ service: definition.name, version: definition.version, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  lifecycle.defer('telemetry', () => telemetry.shutdown());
  const retry = { deadlineMs: config.STARTUP_TIMEOUT_MS, signal: lifecycle.signal };

  const orm = await openDatabase({ url: config.DATABASE_URL, schema: definition.schema, entities: definition.entities, migrations: definition.migrations, logger, poolMax: config.DATABASE_POOL_MAX });
  lifecycle.defer('database', () => orm.close());
  await connectWithRetry('postgres', redactUrl(config.DATABASE_URL), () => assertConnected(orm), logger, retry);

  const nats = await connectWithRetry(
    'nats',
    redactUrl(config.NATS_URL),
    () => connectNats(config.NATS_URL, definition.name, config.NATS_NAMESPACE, natsAuth(config)),
    logger,
    retry,
  );
  lifecycle.defer('nats', () => nats.connection.drain());

  const health = createHealthState();
  health.addCheck('postgres', databaseCheck(orm));
  health.addCheck('nats', natsCheck(nats));
  return { definition, config, logger, orm, nats, health, metrics: createMetrics(definition.name), lifecycle, identity, startedAt: Date.now() };
}

/**
 * Starts the relay of the service's outbox (`<schema>.outbox`, created by the
 * service's migration) and returns its audit writer. The relay stops before
 * NATS and the database close; unsent rows wait for the next start.
 */
export function openAuditOutbox(runtime: ServiceRuntime): AuditOutbox & Pick<OutboxRelay, 'flush'> {
  const { definition, lifecycle, logger, nats, orm, health } = runtime;
  const relay = startOutboxRelay({ orm, nats, schema: definition.schema, logger: logger.child({ component: 'outbox' }) });
  lifecycle.defer('outbox relay', () => relay.stop());
  health.addCheck('outbox', () => relay.check());
  const em = () => orm.em.fork() as EntityManager;
  return { ...createAuditOutbox({ schema: definition.schema, service: definition.name, subjects: nats.subjects, relay, em }), flush: (ms) => relay.flush(ms) };
}

export interface ServeOptions {
  /** Registers the service's own Connect services (health is added here). */
  readonly routes: (router: ConnectRouter) => void;
  /**
   * Serve /healthz, /readyz, /metrics on OPS_PORT. The backends always do; the gateway only in
   * production (so /metrics is off its public port), in development it serves them on its REST port.
   */
  readonly opsServer: boolean;
  /** The service's audit outbox: RPCs refused for lack of permission are recorded there. */
  readonly audit?: AuditOutbox;
}

/**
 * Starts serving: Connect + gRPC health on RPC_PORT, ops endpoints on
 * OPS_PORT, then marks the service started and announces it on AUDIT.
 * Shutdown: stop accepting first, then the resources opened before.
 */
export async function serve(runtime: ServiceRuntime, options: ServeOptions): Promise<void> {
  const { config, definition, health, lifecycle, logger, metrics } = runtime;
  const rpc = await startRpcServer({
    host: config.HOST,
    port: config.RPC_PORT,
    shutdownTimeoutMs: Math.floor(config.SHUTDOWN_TIMEOUT_MS / 2),
    interceptors: [
      serverInterceptor(logger, config.NODE_ENV !== 'production'),
      metrics.rpcInterceptor,
      internalAuthInterceptor(runtime.identity),
      ...(options.audit ? [permissionDeniedAuditInterceptor(options.audit.record, logger, definition.name)] : []),
    ],
    routes: (router) => {
      router.service(Health, createHealthRpc(health, definition.rpcServices.map((s) => s.typeName)));
      options.routes(router);
    },
  });
  lifecycle.defer('rpc server', () => rpc.close());
  if (options.opsServer) {
    const ops = await startOpsServer({ host: config.HOST, port: config.OPS_PORT, health, registry: metrics.registry });
    lifecycle.defer('ops server', () => new Promise((resolve) => ops.close(resolve)));
  }
  await ensureStreams(runtime.nats);
  health.markStarted();
  // Registered last, so it runs first on shutdown: probes see "not ready" before the listeners close.
  lifecycle.defer('readiness', () => health.markStopping());
  await announceStart(runtime);
  logger.info({ rpc_port: config.RPC_PORT, ops_port: options.opsServer ? config.OPS_PORT : undefined }, `${definition.name} ${definition.version} serving`);
}

/** The GetInfo handler every service's Connect service shares. */
export function getInfoHandler(runtime: ServiceRuntime) {
  return {
    async getInfo() {
      return { info: await describeService(runtime) };
    },
  };
}

/** GetInfo's answer, the same for every service. */
export async function describeService(runtime: ServiceRuntime): Promise<ServiceInfo> {
  const status = await schemaStatus(runtime.orm);
  return create(ServiceInfoSchema, {
    name: runtime.definition.name,
    version: runtime.definition.version,
    schemaVersion: status.version,
    schemaCurrent: status.current,
    startedAtMs: BigInt(runtime.startedAt),
  });
}

async function announceStart(runtime: ServiceRuntime): Promise<void> {
  const { definition, nats, logger } = runtime;
  const eventId = randomUUID();
  const status = await schemaStatus(runtime.orm);
  const event = create(ServiceStartedSchema, {
    eventId,
    service: definition.name,
    version: definition.version,
    instance: hostname(),
    schemaVersion: status.version,
    occurredAtMs: BigInt(Date.now()),
  });
  try {
    await publishProto(nats, nats.subjects.audit(definition.name, 'service_started'), ServiceStartedSchema, event, { eventId });
  } catch (err) {
    // Serving must not depend on the audit stream being writable right now.
    logger.warn({ err }, 'could not publish ServiceStarted to AUDIT');
  }
}

/**
 * The `migrate` one-shot: applies the service's migrations and makes sure the
 * JetStream streams exist. Never runs as part of `serve`.
 */
export async function runMigrate(definition: ServiceDefinition, config: BaseConfig, afterStreams?: (runtime: ServiceRuntime) => Promise<void>): Promise<void> {
  const runtime = await openRuntime(definition, config);
  try {
    const applied = await migrate(runtime.orm, config.DATABASE_URL, definition.schema);
    // A service user may not create streams: wait for the provisioning step (a Job started alongside) rather than fail at once.
    await connectWithRetry('JetStream streams', redactUrl(config.NATS_URL), () => ensureStreams(runtime.nats), runtime.logger, { deadlineMs: config.STARTUP_TIMEOUT_MS });
    await afterStreams?.(runtime);
    const status = await schemaStatus(runtime.orm);
    runtime.logger.info({ applied, schema_version: status.version }, applied.length ? `applied ${applied.length} migration(s)` : 'schema already current');
  } finally {
    await runtime.lifecycle.shutdown('migrate finished');
  }
}
