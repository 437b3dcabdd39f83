import { randomBytes } from 'node:crypto';
import type { AuditFact } from '@csda/service-kit';
import { fastify, type FastifyInstance } from 'fastify';
import { UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { installErrorHandling } from '../../http/error-handler.ts';
import { createAuthHooks, principalOf } from './auth.hooks.ts';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, createAccessTokens } from './tokens.ts';

const tokens = createAccessTokens({ secret: randomBytes(32), ttlSeconds: 900 });
const alice = { id: 'u-alice', username: 'alice', roles: ['USER'], permissions: ['secrets:read'] };
const root = { id: 'u-root', username: 'root', roles: ['ADMIN'], permissions: ['secrets:read', 'users:admin'] };

describe('auth hooks', () => {
  let app: FastifyInstance | undefined;
  const revoked = new Set<string>();
  const audited: AuditFact[] = [];

  async function build() {
    const hooks = createAuthHooks({
      accessTokens: tokens,
      revocation: { isRevoked: async ({ sessionId }) => revoked.has(sessionId) },
      audit: async (fact) => void audited.push(fact),
    });
    app = fastify();
    app.decorateRequest('principal', undefined);
    installErrorHandling(app, false);
    app.get('/who', { preHandler: hooks.authenticate }, async (request) => principalOf(request));
    app.get('/admin', { preHandler: hooks.requirePermission('users:admin') }, async (request) => ({ id: principalOf(request).id }));
    app.get('/open', async (request) => principalOf(request));
    return app;
  }
  const call = async (url: string, authorization?: string) =>
    (await build()).inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });

  afterEach(async () => {
    await app?.close();
    revoked.clear();
    audited.length = 0;
  });

  it('sets request.principal from a valid bearer token', async () => {
    const res = await call('/who', `Bearer ${await tokens.sign(alice, 's1')}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ kind: 'user', id: 'u-alice', name: 'alice', roles: ['USER'], permissions: ['secrets:read'] });
    expect((await call('/who', `bearer   ${await tokens.sign(alice, 's1')}`)).statusCode).toBe(200);
  });

  it('answers 401 envelopes for a missing, malformed, unsecured or revoked token', async () => {
    const none = new UnsecuredJWT({ username: 'root', roles: ['ADMIN'], perms: ['users:admin'], sid: 's', iat_ms: Date.now() })
      .setSubject('u-root')
      .setJti('j')
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode();
    revoked.add('s-dead');
    const cases: [string | undefined, string][] = [
      [undefined, 'Authentication required'],
      ['Basic YWxpY2U6cHc=', 'Invalid authorization header: expected a bearer token'],
      ['Bearer', 'Invalid authorization header: expected a bearer token'],
      [`Bearer ${none}`, 'Invalid access token'],
      [`Bearer ${await tokens.sign(alice, 's-dead')}`, 'Access token revoked'],
    ];
    for (const [header, message] of cases) {
      const res = await call('/admin', header);
      expect(res.statusCode, String(header)).toBe(401);
      expect(res.json().error).toMatchObject({ code: 'AUTHENTICATION_ERROR', message, details: {} });
    }
  });

  it('answers 403 when the principal lacks the permission, and passes when it holds it', async () => {
    const denied = await call('/admin', `Bearer ${await tokens.sign(alice, 's1')}`);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: 'Permission users:admin required' });
    // The denial is audited: who, which route, which permission.
    expect(audited).toEqual([
      expect.objectContaining({ action: 'permission_denied', actor: 'u-alice', actorName: 'alice', outcome: 'failure', details: { reason: 'missing_permission', route: 'GET /admin', required: 'users:admin' } }),
    ]);
    const allowed = await call('/admin', `Bearer ${await tokens.sign(root, 's2')}`);
    expect(allowed.statusCode).toBe(200);
    expect(allowed.json()).toEqual({ id: 'u-root' });
    expect(audited).toHaveLength(1);
  });

  it('makes principalOf refuse a route wired without authentication', async () => {
    const res = await call('/open', `Bearer ${await tokens.sign(root, 's2')}`);
    expect(res.statusCode).toBe(401);
  });
});
