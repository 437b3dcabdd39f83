import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { PERMISSIONS, SEEDED_ROLES } from '@csda/auth';
import { ServiceInfoSchema } from '@csda/proto/csda/common/v1/service_info_pb.js';
import { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { SchedulerService } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { SearchService } from '@csda/proto/csda/search/v1/search_pb.js';
import { ToolRunnerService } from '@csda/proto/csda/tools/v1/tools_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createHealthState, createLogger, createMetrics, createServiceClient, type Metrics } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../../src/http/app.ts';
import { createIdentity, type Identity } from '../../src/identity/identity.ts';
import { createPasswordHasher } from '../../src/identity/passwords.ts';
import { createAccessTokens } from '../../src/identity/auth/tokens.ts';
import { createServiceDirectory } from '../../src/system/service-directory.ts';

const accessTokens = createAccessTokens({ secret: randomBytes(32), ttlSeconds: 900 });

/** A bearer token of an administrator holding every permission, valid for this process's offline apps. */
export const offlineAdminToken = () => accessTokens.sign({ id: 'user-1', username: 'admin', roles: ['ADMIN'], permissions: [...PERMISSIONS] }, 'session-1');

/** A bearer token of any user, valid for this process's offline apps (the seeded USER role by default). */
export const offlineUserToken = (user: { id: string; username: string; roles?: string[]; permissions?: string[] }) =>
  accessTokens.sign(
    { id: user.id, username: user.username, roles: user.roles ?? ['USER'], permissions: user.permissions ?? [...(SEEDED_ROLES.find((r) => r.name === 'USER')?.permissions ?? [])] },
    `session-${user.id}`,
  );

/** Identity with no database, Redis or NATS behind it: enough for routes that fail before reaching them. */
function offlineIdentity(): Identity {
  return createIdentity({
    repositories: () => {
      throw new Error('no database in this test');
    },
    passwords: createPasswordHasher(),
    accessTokens,
    rateLimiter: { check: async () => ({ slowMs: 0 }), failed: async () => undefined, succeeded: async () => undefined },
    revocation: { revokeUser: async () => undefined, revokeSessions: async () => undefined, isRevoked: async () => false },
    audit: async () => undefined,
    refreshTokenTtlSeconds: 3_600,
    registrationEnabled: true,
    now: Date.now,
  });
}

export interface OfflineApp {
  readonly app: FastifyInstance;
  readonly metrics: Metrics;
  /** Where the backends "are": a port nothing listens on. */
  readonly backendUrl: string;
}

/**
 * The gateway's REST edge as main.ts builds it (metrics registry, client
 * metrics on the backend clients), with every backend a real Connect client
 * pointed at a closed port and no database behind identity.
 */
export async function buildOfflineApp(overrides: Partial<AppDeps> = {}): Promise<OfflineApp> {
  const backendUrl = `http://127.0.0.1:${await freePort()}`;
  const metrics = createMetrics('gateway');
  const health = createHealthState();
  health.markStarted();
  const clientMetrics = [metrics.rpcClientInterceptor];
  const app = await buildApp({
    logger: createLogger({ service: 'gateway', level: 'silent' }),
    exposeInternals: false,
    bodyLimitBytes: 1_024,
    version: '0.1.0',
    health,
    registry: metrics.registry,
    vault: createServiceClient(VaultService, backendUrl, clientMetrics),
    scheduler: createServiceClient(SchedulerService, backendUrl, clientMetrics),
    tools: createServiceClient(ToolRunnerService, backendUrl, clientMetrics),
    search: createServiceClient(SearchService, backendUrl, clientMetrics),
    documents: createServiceClient(DocumentIngestService, backendUrl, clientMetrics),
    queues: { snapshot: async () => [] },
    signer: { sign: async () => 'unused' },
    directory: createServiceDirectory(
      { VAULT_URL: backendUrl, TOOL_RUNNER_URL: backendUrl, DOCUMENT_INGEST_URL: backendUrl, SEARCH_URL: backendUrl, SCHEDULER_URL: backendUrl },
      { sign: async () => 'unused' },
      clientMetrics,
    ),
    describeSelf: async () => create(ServiceInfoSchema, { name: 'gateway', version: '0.1.0', schemaVersion: 'm1', schemaCurrent: true, startedAtMs: 0n }),
    identity: offlineIdentity(),
    auditLog: () => {
      throw new Error('no database in this test');
    },
    ...overrides,
  });
  return { app, metrics, backendUrl };
}
