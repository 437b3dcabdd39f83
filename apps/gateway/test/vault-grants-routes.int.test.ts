import { create } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { principalFrom, type Principal } from '@csda/auth';
import { AppError, NotFoundError, toConnectError } from '@csda/errors';
import { SecretGrantSchema, VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createServiceClient } from '@csda/service-kit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { client } from './support/identity-harness.ts';
import { gatewaySigner, startLocalBackend, type LocalBackend } from './support/local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './support/offline-app.ts';

const SECRET = '3c1f0a8e-6d2b-4f7a-9e5c-1b2a3c4d5e6f';
const TOOL = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/**
 * The secret grant routes against a local VaultService speaking the real
 * protocol: the REST shape, what reaches the vault (as whom), the edge's
 * validation and the vault's refusals in the envelope. The grant rules
 * themselves are the vault's (apps/vault tests).
 */
describe('secret grants REST ↔ VaultService', () => {
  const seen: { method: string; req: Record<string, unknown>; caller: Principal }[] = [];
  let failWith: Error | undefined;
  let backend: LocalBackend;
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;
  let alice: string;
  let readOnly: string;

  const grant = (revoked: boolean) =>
    create(SecretGrantSchema, {
      secretId: SECRET,
      toolId: TOOL,
      toolName: 'deploy',
      as: 'env:API_KEY',
      grantedBy: ALICE,
      grantedAtMs: BigInt(T0),
      ...(revoked ? { revokedAtMs: BigInt(T0 + 60_000), revokedBy: ALICE, revokeReason: 'owner_revoked' } : {}),
    });
  const record = (method: string, req: object, ctx: HandlerContext) => {
    seen.push({ method, req: req as Record<string, unknown>, caller: principalFrom(ctx) });
    if (failWith) throw failWith;
  };

  beforeAll(async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    backend = await startLocalBackend(VaultService, 'vault', publicKeyOf(), {
      listSecretGrants: (req, ctx) => {
        record('listSecretGrants', req, ctx);
        return { items: req.includeRevoked ? [grant(false), grant(true)] : [grant(false)], total: req.includeRevoked ? 2n : 1n };
      },
      revokeSecretGrant: (req, ctx) => {
        record('revokeSecretGrant', req, ctx);
        return { revoked: 1 };
      },
    });
    ({ app } = await buildOfflineApp({ signer, vault: createServiceClient(VaultService, backend.url) }));
    api = client(app);
    alice = await offlineUserToken({ id: ALICE, username: 'alice' });
    readOnly = await offlineUserToken({ id: 'user-ro', username: 'ro', roles: ['AUDITOR'], permissions: ['secrets:read'] });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  beforeEach(() => {
    seen.length = 0;
    failWith = undefined;
  });

  it('lists a secret’s grants in the REST shape, active ones by default, the history with include_revoked', async () => {
    const res = await api('GET', `/api/v1/vault/secrets/${SECRET}/grants`, { token: alice });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      items: [
        {
          secret_id: SECRET,
          tool_id: TOOL,
          tool_name: 'deploy',
          as: 'env:API_KEY',
          granted_by: ALICE,
          granted_at: new Date(T0).toISOString(),
          active: true,
          revoked_at: null,
          revoked_by: null,
          revoke_reason: null,
        },
      ],
      total: 1,
      limit: 50,
      offset: 0,
    });
    expect(seen[0]).toMatchObject({ method: 'listSecretGrants', req: { secretId: SECRET, includeRevoked: false, limit: 50, offset: 0 }, caller: { kind: 'user', id: ALICE } });

    const all = await api('GET', `/api/v1/vault/secrets/${SECRET}/grants?include_revoked=true&limit=10&offset=5`, { token: alice });
    expect(all.body).toMatchObject({ total: 2, limit: 10, offset: 5 });
    expect(all.body?.items[1]).toMatchObject({ active: false, revoked_at: new Date(T0 + 60_000).toISOString(), revoked_by: ALICE, revoke_reason: 'owner_revoked' });
    expect(seen[1]?.req).toMatchObject({ includeRevoked: true, limit: 10, offset: 5 });
  });

  it('revokes one tool’s grant with 204, as the caller', async () => {
    const res = await api('DELETE', `/api/v1/vault/secrets/${SECRET}/grants/${TOOL}`, { token: alice });
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(seen).toEqual([expect.objectContaining({ method: 'revokeSecretGrant', req: expect.objectContaining({ secretId: SECRET, toolId: TOOL }), caller: expect.objectContaining({ id: ALICE }) })]);
  });

  it('refuses bad ids and filters at the edge, naming the field, before any call', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/api/v1/vault/secrets/not-a-uuid/grants', 'id'],
      ['GET', `/api/v1/vault/secrets/${SECRET}/grants?include_revoked=yes`, 'include_revoked'],
      ['GET', `/api/v1/vault/secrets/${SECRET}/grants?limit=0`, 'limit'],
      ['DELETE', `/api/v1/vault/secrets/${SECRET}/grants/not-a-tool`, 'tool_id'],
      ['DELETE', `/api/v1/vault/secrets/x/grants/${TOOL}`, 'id'],
    ];
    for (const [method, url, field] of cases) {
      const res = await api(method as 'GET', url, { token: alice });
      expect(res.status, url).toBe(422);
      expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body?.error.details ?? {}), url).toContain(field);
    }
    expect(seen).toEqual([]);
  });

  it('needs a token, and secrets:write to revoke', async () => {
    expect((await api('GET', `/api/v1/vault/secrets/${SECRET}/grants`)).status).toBe(401);
    expect((await api('DELETE', `/api/v1/vault/secrets/${SECRET}/grants/${TOOL}`)).status).toBe(401);
    const denied = await api('DELETE', `/api/v1/vault/secrets/${SECRET}/grants/${TOOL}`, { token: readOnly });
    expect(denied.status).toBe(403);
    expect(denied.body?.error.code).toBe('AUTHORIZATION_ERROR');
    expect(seen).toEqual([]);
  });

  it('answers the vault’s NOT_FOUND (not yours, or no active grant) as a 404 envelope with its message', async () => {
    failWith = toConnectError(new NotFoundError('secret', SECRET), false);
    const list = await api('GET', `/api/v1/vault/secrets/${SECRET}/grants`, { token: alice });
    expect(list.status).toBe(404);
    expect(list.body?.error).toMatchObject({ code: 'NOT_FOUND', message: `Secret ${SECRET} not found`, details: { resource: 'secret', identifier: SECRET } });

    failWith = toConnectError(new AppError('NOT_FOUND', `Secret ${SECRET} has no active grant to tool ${TOOL}`, { details: { resource: 'grant', identifier: TOOL } }), false);
    const revoke = await api('DELETE', `/api/v1/vault/secrets/${SECRET}/grants/${TOOL}`, { token: alice });
    expect(revoke.status).toBe(404);
    expect(revoke.body?.error).toMatchObject({ code: 'NOT_FOUND', message: `Secret ${SECRET} has no active grant to tool ${TOOL}`, details: { resource: 'grant', identifier: TOOL } });
  });
});
