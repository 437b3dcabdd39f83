import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOfflineApp, offlineAdminToken as adminToken } from '../../test/support/offline-app.ts';

/** The REST edge through app.inject; backends are real clients pointed at ports where nothing listens. */
async function build(exposeInternals: boolean): Promise<FastifyInstance> {
  const { app } = await buildOfflineApp({ exposeInternals });
  // Probe routes that exercise validation and failure paths of the shared error handling.
  app.withTypeProvider<ZodTypeProvider>().post('/probe/items', { schema: { body: z.object({ name: z.string().min(1), count: z.number().int().positive() }) } }, async (req) => req.body);
  app.get('/probe/crash', async () => {
    throw new Error('relation "identity.users" does not exist at db.internal:5432');
  });
  return app;
}

describe('gateway REST edge', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it('answers unknown routes with the NOT_FOUND envelope and echoes a request id', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'GET', url: '/api/v1/nope', headers: { 'x-request-id': 'abc-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'Route GET /api/v1/nope not found', details: { resource: 'route' }, request_id: 'abc-123' } });
  });

  it('rejects malformed JSON with VALIDATION_ERROR 422', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'POST', url: '/probe/items', headers: { 'content-type': 'application/json' }, payload: '{"name": ' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'Request body is not valid JSON' });
  });

  it('rejects schema violations with field details', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'POST', url: '/probe/items', payload: { name: '', count: -1 } });
    expect(res.statusCode).toBe(422);
    const { error } = res.json();
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(Object.keys(error.details).sort()).toEqual(['count', 'name']);
  });

  it('refuses NUL characters anywhere in the body or query with VALIDATION_ERROR', async () => {
    app = await build(false);
    const body = await app.inject({ method: 'POST', url: '/probe/items', payload: { name: 'a\u0000b', count: 1 } });
    expect(body.statusCode).toBe(422);
    expect(body.json().error).toMatchObject({ code: 'VALIDATION_ERROR', details: { 'body.name': 'contains U+0000' } });
    const query = await app.inject({ method: 'GET', url: '/api/v1/nope?q=%00' });
    expect(query.statusCode).toBe(422);
  });

  it('answers a malformed URL with the envelope, not a framework body', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'GET', url: '/api/v1/vault/secrets/%E0%A4%A' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', details: { reason: 'FST_ERR_BAD_URL' } });
  });

  it('rejects oversized bodies with PAYLOAD_TOO_LARGE 413', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'POST', url: '/probe/items', payload: { name: 'x'.repeat(4_096), count: 1 } });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('hides internals of unexpected errors in production and shows them in development', async () => {
    app = await build(false);
    const prod = await app.inject({ method: 'GET', url: '/probe/crash' });
    expect(prod.statusCode).toBe(500);
    expect(prod.json().error).toMatchObject({ code: 'INTERNAL_ERROR', message: 'An internal error occurred' });
    expect(prod.body).not.toMatch(/identity\.users|db\.internal|at /);
    await app.close();
    app = await build(true);
    expect((await app.inject({ method: 'GET', url: '/probe/crash' })).json().error.message).toContain('identity.users');
  });

  it('reports not ready, naming each service and its state, while backends are unreachable', async () => {
    app = await build(false);
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const body = res.json();
    expect(body.status).toBe('not_ready');
    expect(body.services.map((s: { name: string }) => s.name)).toEqual(['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler']);
    expect(body.services[0].state).toBe('ready');
    expect(body.services.slice(1).every((s: { state: string }) => s.state === 'unreachable')).toBe(true);
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|detail/);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('lists unreachable services in system/services instead of failing', async () => {
    app = await build(false);
    expect((await app.inject({ method: 'GET', url: '/api/v1/system/services' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/api/v1/system/services', headers: { authorization: `Bearer ${await adminToken()}` } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.total).toBe(6);
    expect(body.items[0]).toMatchObject({ name: 'gateway', status: 'up', schema_version: 'm1' });
    expect(body.items[1]).toMatchObject({ name: 'vault', status: 'unreachable', version: null });
  });

  it('publishes an OpenAPI 3.1 document generated from the route schemas, and an API reference page', async () => {
    app = await build(false);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/api/v1/system/services']));
    expect(doc.paths['/api/v1/vault/secrets/{id}/value'].get.security).toEqual([{ bearerAuth: [] }]);
    const services = doc.paths['/api/v1/system/services'].get;
    expect(Object.keys(services.responses)).toEqual(expect.arrayContaining(['200', '422', '500', '503']));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/users/{id}', '/api/v1/users/{id}/roles', '/api/v1/roles', '/api/v1/audit']),
    );
    expect(doc.paths['/api/v1/auth/login'].post.tags).toEqual(['auth']);
    expect(doc.paths['/api/v1/audit'].get.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/v1/audit'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['actor', 'action', 'resource_type', 'resource_id', 'since', 'until', 'limit', 'offset']),
    );
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });

  it('guards protected routes with the AUTHENTICATION_ERROR envelope and a Bearer challenge', async () => {
    app = await build(false);
    for (const url of ['/api/v1/users', '/api/v1/roles', '/api/v1/audit', '/api/v1/auth/me']) {
      const res = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'r-1' } });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="csda"');
      expect(res.json()).toEqual({ error: { code: 'AUTHENTICATION_ERROR', message: 'Authentication required', details: {}, request_id: 'r-1' } });
    }
  });
});
