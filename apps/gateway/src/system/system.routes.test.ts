import { afterEach, describe, expect, it } from 'vitest';
import { buildOfflineApp, offlineAdminToken, type OfflineApp } from '../../test/support/offline-app.ts';

interface Item {
  name: string;
  status: string;
  error?: string;
}

/** GET /api/v1/system/services with every backend down (real clients, a closed port). */
describe('system/services', () => {
  let built: OfflineApp | undefined;
  afterEach(async () => {
    await built?.app.close();
    built = undefined;
  });

  const services = async (exposeInternals: boolean) => {
    built = await buildOfflineApp({ exposeInternals });
    const res = await built.app.inject({ method: 'GET', url: '/api/v1/system/services', headers: { authorization: `Bearer ${await offlineAdminToken()}` } });
    expect(res.statusCode).toBe(200);
    return { body: res.body, items: (res.json() as { items: Item[] }).items, backend: new URL(built.backendUrl) };
  };

  it('shows a generic status per service in production: no backend address, port or connection error', async () => {
    const { body, items, backend } = await services(false);
    expect(items.map((i) => [i.name, i.status])).toEqual([
      ['gateway', 'up'],
      ['vault', 'unreachable'],
      ['tool-runner', 'unreachable'],
      ['document-ingest', 'unreachable'],
      ['search', 'unreachable'],
      ['scheduler', 'unreachable'],
    ]);
    for (const item of items) expect(item).not.toHaveProperty('error');
    expect(body).not.toContain(backend.hostname);
    expect(body).not.toContain(backend.port);
    expect(body).not.toMatch(/ECONNREFUSED|connect |errno|http:\/\//i);
  });

  it('shows why a service is unreachable in development', async () => {
    const { items, backend } = await services(true);
    const vault = items.find((i) => i.name === 'vault');
    expect(vault?.status).toBe('unreachable');
    expect(vault?.error).toBeTruthy();
    expect(`${vault?.error}`).toMatch(new RegExp(`ECONNREFUSED|${backend.port}|unavailable`, 'i'));
  });
});
