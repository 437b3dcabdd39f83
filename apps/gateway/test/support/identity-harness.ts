import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import {
  assertConnected,
  connectNats,
  connectRedis,
  createAuditOutbox,
  createLogger,
  createRedis,
  loadConfig,
  openDatabase,
  startConsumer,
  startOutboxRelay,
  type MikroORM,
  type Nats,
  type Redis,
  type RunningConsumer,
} from '@csda/service-kit';
import { createTestDatabase, deleteNamespace, natsUrl, query, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { createAuditLogRepository } from '../../src/audit/audit-log.repository.ts';
import { auditConsumerSpec, createAuditHandler } from '../../src/audit/audit.consumer.ts';
import { configSchema, trustProxySetting } from '../../src/config.ts';
import { definition } from '../../src/definition.ts';
import { createIdentity, createIdentityDeps } from '../../src/identity/identity.ts';
import { buildOfflineApp } from './offline-app.ts';

export const redisUrl = () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A real test environment for the identity slice: its own database (migrated
 * by the real `migrate` command), NATS namespace and Redis key prefix; the
 * gateway app wired as main.ts wires it (driven through inject); the real
 * audit consumer; and every log line captured for scans.
 */
export interface IdentityHarness {
  readonly db: TestDatabase;
  readonly namespace: string;
  /** Env for `runCommand('gateway', …)` against this harness. */
  readonly env: Record<string, string>;
  readonly orm: MikroORM;
  readonly nats: Nats;
  readonly redis: Redis;
  readonly logs: () => string;
  /** Builds (and remembers, for close) an app; `overrides` are config variables. */
  /** `now` replaces the identity clock (login back-off, token times), for tests that move time. */
  app(overrides?: Record<string, string>, options?: { redis?: Redis; now?: () => number }): Promise<FastifyInstance>;
  close(): Promise<void>;
}

export async function startIdentityHarness(label: string): Promise<IdentityHarness> {
  const namespace = testNamespace();
  const db = await createTestDatabase(label);
  const env = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), NODE_ENV: 'test', LOG_LEVEL: 'info' };
  const migrated = await runCommand('gateway', 'migrate', env);
  if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.stderr}${migrated.stdout}`);

  let captured = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (captured += d.toString()));
  const logger = createLogger({ service: 'gateway', level: 'debug', destination: sink });

  const orm = await openDatabase({ url: db.url, schema: 'identity', entities: definition.entities, migrations: definition.migrations, logger });
  await assertConnected(orm);
  const nats = await connectNats(natsUrl(), `${label}-test`, namespace);
  const redis = createRedis(redisUrl(), `${namespace}:`, logger);
  await connectRedis(redis);
  const spec = auditConsumerSpec(nats.subjects, 1_000);
  const consumer: RunningConsumer = await startConsumer(nats, {
    spec,
    concurrency: 4,
    logger,
    handler: createAuditHandler(nats.subjects, () => createAuditLogRepository(orm.em.fork() as EntityManager)),
  });

  const relay = startOutboxRelay({ orm, nats, schema: 'identity', logger, pollMs: 50 });
  const outbox = createAuditOutbox({ schema: 'identity', service: 'gateway', subjects: nats.subjects, relay, em: () => orm.em.fork() as EntityManager });

  const apps: FastifyInstance[] = [];
  const jwtSecret = randomBytes(48).toString('base64url');

  return {
    db,
    namespace,
    env,
    orm,
    nats,
    redis,
    logs: () => captured,
    async app(overrides = {}, options = {}) {
      const config = loadConfig(configSchema, { NODE_ENV: 'test', JWT_SECRET: jwtSecret, REVOCATION_CACHE_MS: '2000', ...overrides });
      const fork = () => orm.em.fork() as EntityManager;
      const { app } = await buildOfflineApp({
        logger,
        bodyLimitBytes: config.BODY_LIMIT_BYTES,
        version: definition.version,
        trustProxy: trustProxySetting(config.TRUST_PROXY),
        identity: createIdentity(createIdentityDeps({ config, em: fork, redis: options.redis ?? redis, outbox, jwtSecret, now: options.now })),
        auditLog: () => createAuditLogRepository(fork()),
      });
      apps.push(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.close();
      await relay.stop();
      await consumer.stop();
      await orm.close();
      redis.disconnect();
      await nats.connection.drain();
      await db.drop();
      await deleteNamespace(namespace);
    },
  };
}

// Response bodies are asserted on freely in tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = Record<string, any>;

/** `app.inject` with JSON, a bearer token and a client address. */
export function client(app: FastifyInstance) {
  return async (method: InjectOptions['method'], url: string, options: { token?: string; body?: unknown; ip?: string; headers?: Record<string, string> } = {}) => {
    const res = await app.inject({
      method,
      url,
      remoteAddress: options.ip ?? '198.51.100.1',
      headers: { ...options.headers, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      ...(options.body === undefined ? {} : { payload: options.body as InjectOptions['payload'] }),
    });
    return { status: res.statusCode, headers: res.headers, body: res.body ? (JSON.parse(res.body) as Body) : undefined };
  };
}

/** Every row of identity.audit_log as text, for scans. */
export async function auditDump(db: TestDatabase): Promise<string> {
  return JSON.stringify(await query(db.url, 'select * from identity.audit_log'));
}
