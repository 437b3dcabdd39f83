import { findSamples, parsePrometheus, type PromSample } from '@csda/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { buildOfflineApp, offlineAdminToken, type OfflineApp } from '../../test/support/offline-app.ts';
import { UNMATCHED_ROUTE } from './metrics.ts';

/** Gateway metrics over real HTTP: traffic first, then a scrape of /metrics, as Prometheus sees it. */
describe('gateway metrics', () => {
  let built: OfflineApp | undefined;
  afterEach(async () => {
    await built?.app.close();
    built = undefined;
  });

  const listen = async (overrides: Parameters<typeof buildOfflineApp>[0] = {}) => {
    built = await buildOfflineApp(overrides);
    await built.app.listen({ host: '127.0.0.1', port: 0 });
    const address = built.app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  };
  const scrape = async (base: string): Promise<PromSample[]> => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parsePrometheus(await res.text());
  };
  const count = (samples: PromSample[], labels: Record<string, string>) => findSamples(samples, 'csda_http_requests_total', labels).reduce((n, s) => n + s.value, 0);

  it('labels requests by route template and status, never by raw URL', async () => {
    const base = await listen();
    const auth = { authorization: `Bearer ${await offlineAdminToken()}` };
    for (const id of ['1b4e28ba-2fa1-11d2-883f-0016d3cca427', '6fa459ea-ee8a-3ca4-894e-db77e160355e', 'not-a-uuid']) {
      await fetch(`${base}/api/v1/vault/secrets/${id}`, { headers: auth });
    }
    await fetch(`${base}/api/v1/vault/secrets/1b4e28ba-2fa1-11d2-883f-0016d3cca427`); // no token: 401
    for (let i = 0; i < 5; i++) await fetch(`${base}/api/v1/does-not-exist/${i}?probe=${i}`);
    await fetch(`${base}/healthz`);

    const samples = await scrape(base);
    const route = '/api/v1/vault/secrets/:id';
    // Two valid ids reach the (unreachable) vault, the malformed one fails validation: one series per status.
    expect(count(samples, { method: 'GET', route, status: '503' })).toBe(2);
    expect(count(samples, { method: 'GET', route, status: '422' })).toBe(1);
    expect(count(samples, { method: 'GET', route, status: '401' })).toBe(1);
    expect(count(samples, { method: 'GET', route: UNMATCHED_ROUTE, status: '404' })).toBe(5);
    expect(count(samples, { method: 'GET', route: '/healthz', status: '200' })).toBe(1);
    expect(findSamples(samples, 'csda_http_request_duration_seconds_count', { method: 'GET', route, status: '503' })[0]?.value).toBe(2);
    expect(findSamples(samples, 'csda_http_request_duration_seconds_bucket', { method: 'GET', route, status: '503', le: '+Inf' })[0]?.value).toBe(2);
    const routes = new Set(findSamples(samples, 'csda_http_requests_total').map((s) => s.labels.route));
    for (const r of routes) expect(r, 'a raw URL became a label').not.toMatch(/[0-9a-f]{8}-|does-not-exist|not-a-uuid|\?/);
    expect(findSamples(samples, 'csda_http_requests_total')[0]?.labels.service).toBe('gateway');
  });

  it('counts and times the backend RPCs behind a request, by callee service, method and code', async () => {
    const base = await listen();
    const auth = { authorization: `Bearer ${await offlineAdminToken()}` };
    await fetch(`${base}/api/v1/vault/secrets/1b4e28ba-2fa1-11d2-883f-0016d3cca427`, { headers: auth });
    await fetch(`${base}/readyz`);
    const samples = await scrape(base);
    const vault = findSamples(samples, 'csda_rpc_client_handled_total', { rpc_service: 'csda.vault.v1.VaultService', code: 'Unavailable' });
    expect(vault).toHaveLength(1);
    expect(vault[0]!.labels.rpc_method).toMatch(/^[A-Z][A-Za-z]+$/);
    // /readyz asks each of the five backends' gRPC health: five calls, all refused.
    expect(findSamples(samples, 'csda_rpc_client_handled_total', { rpc_service: 'grpc.health.v1.Health', rpc_method: 'Check', code: 'Unavailable' })[0]?.value).toBe(5);
    expect(findSamples(samples, 'csda_rpc_client_duration_seconds_count', { rpc_service: 'grpc.health.v1.Health', rpc_method: 'Check' })[0]?.value).toBe(5);
  });

  it('serves no /metrics on the REST port when metricsOnRestPort is false (production)', async () => {
    const base = await listen({ metricsOnRestPort: false });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect([200, 503]).toContain((await fetch(`${base}/readyz`)).status);
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });
});
