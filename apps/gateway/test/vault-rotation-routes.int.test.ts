import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ValidationError, toConnectError } from '@csda/errors';
import { SecretSchema, VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createServiceClient } from '@csda/service-kit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const ID = '3c1f0a8e-6d2b-4f7a-9e5c-1b2a3c4d5e6f';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const DAY = 86_400_000;

/**
 * Rotation settings through the vault routes, against a local VaultService
 * speaking the real protocol: the REST shape (policy as JSON ↔ Struct,
 * status, last_error, pending_version), the rotation_status filter and the
 * rotate endpoint. The strategies themselves are the vault's (apps/vault tests).
 */
describe('vault rotation settings REST ↔ VaultService', () => {
  const seen: { method: string; req: Record<string, unknown> }[] = [];
  let failWith: Error | undefined;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;
  let reply: Omit<MessageInitShape<typeof SecretSchema>, '$typeName'> = {};

  const secret = () =>
    create(SecretSchema, {
      id: ID,
      name: 'db',
      ownerId: ALICE,
      isActive: true,
      currentVersion: 3,
      createdAtMs: BigInt(T0),
      updatedAtMs: BigInt(T0),
      rotation: { enabled: true, intervalDays: 30, strategy: 'random', policy: { length: 32, charset: 'hex', prefix: 'sk_' }, status: 'ok', nextRotationAtMs: BigInt(T0 + 30 * DAY), lastRotatedAtMs: BigInt(T0) },
      ...reply,
    });
  const record = (method: string, req: object, ctx: HandlerContext) => {
    principalFrom(ctx);
    seen.push({ method, req: req as Record<string, unknown> });
    if (failWith) throw failWith;
    return { secret: secret() };
  };

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(VaultService, 'vault', publicKeyOf(), {
      createSecret: (req, ctx) => record('createSecret', req, ctx),
      updateSecret: (req, ctx) => record('updateSecret', req, ctx),
      getSecret: (req, ctx) => record('getSecret', req, ctx),
      rotateSecret: (req, ctx) => record('rotateSecret', req, ctx),
      listSecrets: (req, ctx) => {
        record('listSecrets', req, ctx);
        return { items: [secret()], total: 1n };
      },
    });
    ({ app } = await buildOfflineApp({ signer, vault: createServiceClient(VaultService, backend.url), bodyLimitBytes: 65_536 }));
    api = client(app);
    alice = await offlineUserToken({ id: ALICE, username: 'alice' });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  beforeEach(() => {
    seen.length = 0;
    failWith = undefined;
    reply = {};
  });

  it('creates with a strategy and its policy (JSON object ↔ google.protobuf.Struct) and shows them back', async () => {
    const res = await api('POST', '/api/v1/vault/secrets', {
      token: alice,
      body: { name: 'db', value: 'initial-value-1', rotation: { enabled: true, interval_days: 30, strategy: 'random', policy: { length: 32, charset: 'hex', prefix: 'sk_' } } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(seen[0]?.req.rotation).toMatchObject({ enabled: true, intervalDays: 30, strategy: 'random', policy: { length: 32, charset: 'hex', prefix: 'sk_' } });
    expect(res.body?.rotation).toEqual({
      enabled: true,
      interval_days: 30,
      strategy: 'random',
      policy: { length: 32, charset: 'hex', prefix: 'sk_' },
      status: 'ok',
      next_rotation_at: new Date(T0 + 30 * DAY).toISOString(),
      last_rotated_at: new Date(T0).toISOString(),
      last_error: null,
      pending_version: null,
    });
  });

  it('accepts each strategy; nested policy values travel intact; no rotation means none is sent', async () => {
    for (const [strategy, policy] of [
      ['manual', {}],
      ['postgres', { rotator_secret_id: ID, password_length: 40 }],
      ['webhook', { url: 'https://rotator.example.test/hook', mode: 'pull', signing_secret_id: ID, timeout_ms: 5_000, headers: { 'x-team': ['a', 'b'] }, retry: null }],
    ] as const) {
      const res = await api('PATCH', `/api/v1/vault/secrets/${ID}`, { token: alice, body: { rotation: { enabled: true, interval_days: 7, strategy, policy } } });
      expect(res.status, strategy).toBe(200);
      expect(seen.at(-1)?.req.rotation, strategy).toMatchObject({ enabled: true, intervalDays: 7, strategy, policy });
    }
    await api('PATCH', `/api/v1/vault/secrets/${ID}`, { token: alice, body: { name: 'renamed' } });
    expect(seen.at(-1)?.req.rotation).toBeUndefined();
    // A PATCH carrying rotation replaces the settings as a whole: unset fields take the defaults.
    await api('PATCH', `/api/v1/vault/secrets/${ID}`, { token: alice, body: { rotation: { enabled: false } } });
    expect(seen.at(-1)?.req.rotation).toMatchObject({ enabled: false, intervalDays: 0, strategy: 'manual', policy: {} });
  });

  it('refuses unknown strategies, oversized or malformed policies and output-only fields, naming them', async () => {
    const cases: [object, string][] = [
      [{ strategy: 'ldap' }, 'rotation.strategy'],
      [{ strategy: 'random', policy: 'length=32' }, 'rotation.policy'],
      [{ strategy: 'random', policy: [32] }, 'rotation.policy'],
      [{ strategy: 'random', policy: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }, 'rotation.policy'],
      [{ strategy: 'random', policy: { prefix: 'x'.repeat(5_000) } }, 'rotation.policy'],
      [{ strategy: 'random', status: 'ok' }, 'rotation'],
      [{ strategy: 'random', last_error: '' }, 'rotation'],
      [{ interval_days: 0 }, 'rotation.interval_days'],
    ];
    for (const [rotation, field] of cases) {
      const res = await api('PATCH', `/api/v1/vault/secrets/${ID}`, { token: alice, body: { rotation } });
      expect(res.status, JSON.stringify(rotation)).toBe(422);
      expect(Object.keys(res.body?.error.details ?? {}).join(','), JSON.stringify(rotation)).toContain(field);
    }
    expect(seen).toEqual([]);
  });

  it("passes the vault's per-field policy validation through as 422", async () => {
    failWith = toConnectError(new ValidationError('Invalid rotation policy', { 'rotation.policy.length': '16 to 256' }), false);
    const res = await api('POST', '/api/v1/vault/secrets', { token: alice, body: { name: 'db', value: 'v-1', rotation: { enabled: true, interval_days: 1, strategy: 'random', policy: { length: 8 } } } });
    expect(res.status).toBe(422);
    expect(res.body?.error.details).toEqual({ 'rotation.policy.length': '16 to 256' });
  });

  it('shows failed and pending rotations: status, last_error, pending_version', async () => {
    reply = { rotation: { enabled: true, intervalDays: 1, strategy: 'postgres', policy: {}, status: 'failed', lastError: 'password authentication failed for user "app"', pendingVersion: 4, nextRotationAtMs: 0n, lastRotatedAtMs: 0n } };
    const res = await api('GET', `/api/v1/vault/secrets/${ID}`, { token: alice });
    expect(res.body?.rotation).toMatchObject({ strategy: 'postgres', status: 'failed', last_error: 'password authentication failed for user "app"', pending_version: 4, next_rotation_at: null, last_rotated_at: null });
  });

  it('filters lists by rotation_status; any other value is a 422', async () => {
    for (const status of ['ok', 'due', 'overdue', 'pending', 'failed']) {
      expect((await api('GET', `/api/v1/vault/secrets?rotation_status=${status}`, { token: alice })).status).toBe(200);
      expect(seen.at(-1)?.req).toMatchObject({ rotationStatus: status });
    }
    await api('GET', '/api/v1/vault/secrets', { token: alice });
    expect(seen.at(-1)?.req).toMatchObject({ rotationStatus: '' });
    seen.length = 0;
    for (const bad of ['OK', 'late', 'due,failed', '']) {
      const res = await api('GET', `/api/v1/vault/secrets?rotation_status=${bad}`, { token: alice });
      expect(res.status, bad).toBe(422);
      expect(Object.keys(res.body?.error.details ?? {})).toContain('rotation_status');
    }
    expect(seen).toEqual([]);
  });

  it('rotates on demand with or without a value (no body at all too) and returns the metadata, never the value', async () => {
    const withValue = await api('POST', `/api/v1/vault/secrets/${ID}/rotate`, { token: alice, body: { value: 'manual-new-value-1' } });
    expect(withValue.status).toBe(200);
    expect(seen.at(-1)?.req).toMatchObject({ id: ID, value: 'manual-new-value-1' });
    expect(JSON.stringify(withValue.body)).not.toContain('manual-new-value-1');
    expect(withValue.body).toMatchObject({ id: ID, current_version: 3, rotation: { status: 'ok' } });

    expect((await api('POST', `/api/v1/vault/secrets/${ID}/rotate`, { token: alice, body: {} })).status).toBe(200);
    expect(seen.at(-1)?.req).toMatchObject({ value: '' });
    expect((await api('POST', `/api/v1/vault/secrets/${ID}/rotate`, { token: alice })).status).toBe(200);
    expect(seen.at(-1)?.req).toMatchObject({ value: '' });
    expect((await api('POST', `/api/v1/vault/secrets/${ID}/rotate`, { token: alice, body: { value: '' } })).status).toBe(422);
    expect((await api('POST', `/api/v1/vault/secrets/${ID}/rotate`, { token: alice, body: { value: 'x'.repeat(65_537) } })).status).toBe(413);
  });
});
