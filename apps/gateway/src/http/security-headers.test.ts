import { afterEach, describe, expect, it } from 'vitest';
import { buildOfflineApp, offlineAdminToken, type OfflineApp } from '../../test/support/offline-app.ts';

const HEADERS = {
  'content-security-policy': /default-src 'self'.*frame-ancestors 'none'.*script-src 'self'/,
  'strict-transport-security': /^max-age=31536000; includeSubDomains$/,
  'x-content-type-options': /^nosniff$/,
  'x-frame-options': /^DENY$/,
  'referrer-policy': /^no-referrer$/,
  'cross-origin-opener-policy': /^same-origin$/,
  'cross-origin-resource-policy': /^same-origin$/,
} as const;

/** Security headers on every kind of response the REST edge gives, errors included. */
describe('gateway security headers', () => {
  let built: OfflineApp | undefined;
  afterEach(async () => {
    await built?.app.close();
    built = undefined;
  });

  it('are on successes, auth failures, unknown routes, validation errors, too-large bodies, upstream failures, docs and pre-routing errors', async () => {
    built = await buildOfflineApp();
    const { app } = built;
    const auth = { authorization: `Bearer ${await offlineAdminToken()}` };
    const cases = [
      { method: 'GET', url: '/healthz', status: 200 },
      { method: 'GET', url: '/openapi.json', status: 200 },
      { method: 'GET', url: '/docs/', status: 200 },
      { method: 'GET', url: '/docs/static/swagger-ui-bundle.js', status: 200 },
      { method: 'GET', url: '/api/v1/users', status: 401 },
      { method: 'GET', url: '/api/v1/nope', status: 404 },
      { method: 'GET', url: '/api/v1/vault/secrets/not-a-uuid', headers: auth, status: 422 },
      { method: 'GET', url: '/api/v1/vault/secrets/%E0%A4%A', status: 422 }, // Fastify rejects it before routing
      { method: 'POST', url: '/api/v1/auth/login', payload: { username: 'x'.repeat(4_096), password: 'y' }, status: 413 },
      { method: 'GET', url: '/api/v1/vault/secrets/1b4e28ba-2fa1-11d2-883f-0016d3cca427', headers: auth, status: 503 },
    ] as const;
    for (const c of cases) {
      const res = await app.inject(c);
      expect(res.statusCode, c.url).toBe(c.status);
      for (const [name, pattern] of Object.entries(HEADERS)) expect(res.headers[name], `${name} on ${c.method} ${c.url}`).toMatch(pattern);
      expect(res.headers['x-powered-by'], c.url).toBeUndefined();
    }
  });

  it('allows no inline script, eval or foreign origin; upgrade-insecure-requests only in production', async () => {
    for (const production of [true, false]) {
      built = await buildOfflineApp({ exposeInternals: !production });
      const csp = String((await built.app.inject({ method: 'GET', url: '/docs/' })).headers['content-security-policy']);
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
      expect(directives.get('script-src')).toEqual(["'self'"]);
      expect(directives.get('object-src')).toEqual(["'none'"]);
      expect(directives.get('style-src')?.filter((v) => !v.startsWith("'sha256-"))).toEqual(["'self'"]);
      expect(csp).not.toMatch(/unsafe-|https:|http:|\*/);
      expect(directives.has('upgrade-insecure-requests')).toBe(production);
      await built.app.close();
      built = undefined;
    }
  });
});
