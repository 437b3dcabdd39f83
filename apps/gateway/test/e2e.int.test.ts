import { createTestDatabase, deleteNamespace, isListening, query, startStack, testNamespace, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations as gatewayMigrations } from '../src/migrations/index.ts';

const SIX = ['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'];

/** All six services as real processes; the gateway called over HTTP. */
describe('platform end to end', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  let stack: Stack | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('e2e');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } });
  }, 120_000);

  afterAll(async () => {
    if (stack) await stack.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  const get = (path: string, init?: RequestInit) => fetch(`${stack!.gatewayUrl}${path}`, init);

  it('is ready, naming all six services', async () => {
    const res = await get('/readyz');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: { name: string; state: string }[] };
    expect(body.status).toBe('ready');
    expect(body.services.map((s) => [s.name, s.state])).toEqual(SIX.map((n) => [n, 'ready']));
  });

  it('reaches every service over Connect for name, version and schema version (system:read only)', async () => {
    expect((await get('/api/v1/system/services')).status).toBe(401);
    const login = await get('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: stack!.env.ADMIN_INITIAL_PASSWORD }) });
    const { access_token: token } = (await login.json()) as { access_token: string };
    const res = await get('/api/v1/system/services', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: { name: string; status: string; version: string; schema_version: string; schema_current: boolean }[]; total: number };
    expect(body.total).toBe(6);
    for (const item of body.items) {
      expect(item).toMatchObject({ status: 'up', version: '0.1.0', schema_current: true });
      expect(item.schema_version).toMatch(/^Migration\d{14}-[a-z-]+$/);
    }
    expect(body.items[0]).toMatchObject({ name: 'gateway', schema_version: gatewayMigrations.at(-1)!.name });
    expect(body.items.map((i) => i.name)).toEqual(SIX);
  });

  it('answers bad requests with the error envelope over real HTTP', async () => {
    const missing = await get('/api/v1/does-not-exist');
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('NOT_FOUND');
    expect(body.error.request_id).toBe(missing.headers.get('x-request-id'));
    const malformed = await get('/api/v1/system/services', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":' });
    expect([404, 422]).toContain(malformed.status);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toMatch(/NOT_FOUND|VALIDATION_ERROR/);
  });

  it('serves metrics on the ops port only (production), the OpenAPI document and the API reference', async () => {
    expect((await get('/metrics')).status).toBe(404);
    const metrics = await (await fetch(`http://127.0.0.1:${stack!.env.OPS_PORT}/metrics`)).text();
    expect(metrics).toContain('csda_rpc_server_handled_total');
    expect(metrics).toMatch(/csda_http_requests_total\{[^}]*route="\/readyz"[^}]*status="200"/);
    expect(metrics).toMatch(/csda_rpc_client_handled_total\{[^}]*rpc_service="grpc\.health\.v1\.Health"[^}]*code="ok"/);
    expect(((await (await get('/openapi.json')).json()) as { openapi: string }).openapi).toBe('3.1.0');
    expect((await get('/docs/')).status).toBe(200);
  });

  it('records every service start in the audit log through JetStream', async () => {
    const deadline = Date.now() + 15_000;
    let services: string[] = [];
    while (Date.now() < deadline) {
      services = (await query<{ service: string }>(db.url, `select distinct service from identity.audit_log where action = 'service_started'`)).map((r) => r.service);
      if (services.length === 6) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(services.sort()).toEqual([...SIX].sort());
  });

  it('reports a stopped backend as unreachable, then shuts everything down cleanly', async () => {
    const s = stack!;
    const search = s.services.search;
    search.process.kill('SIGTERM');
    await new Promise((r) => search.process.once('exit', r));
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { services: { name: string; state: string }[] };
    expect(body.services.find((x) => x.name === 'search')?.state).toBe('unreachable');
    expect(body.services.find((x) => x.name === 'vault')?.state).toBe('ready');

    const codes = await s.stop();
    stack = undefined;
    expect(Object.values(codes).every((c) => c === 0)).toBe(true);
    for (const svc of Object.values(s.services)) {
      expect(await isListening(svc.rpcPort)).toBe(false);
      expect(await isListening(svc.httpPort)).toBe(false);
    }
  });
});
