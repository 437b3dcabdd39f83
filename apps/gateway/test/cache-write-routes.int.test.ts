import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVALIDATING_WRITES } from '../src/cache/invalidation.ts';
import { buildOfflineApp, type OfflineApp } from './support/offline-app.ts';

/** Writes under the cached families' prefixes that change nothing a cached answer shows, and why. */
const CHANGES_NOTHING_CACHED: Readonly<Record<string, string>> = {
  'POST /api/v1/search': 'a read sent as POST (its body is the query)',
  'POST /api/v1/users': 'a new user has no cached answers yet',
};
const CACHED_PREFIXES = ['/api/v1/documents', '/api/v1/tools', '/api/v1/vault', '/api/v1/roles', '/api/v1/search', '/api/v1/users'];
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `METHOD /full/path` for every route, from Fastify's route tree (`├── /segment (GET, POST)`, four columns per level). */
function routesOf(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) routes.push(`${method} ${path}`);
  }
  return routes;
}

/**
 * Every write route of a cached family is in the invalidation table (or listed
 * here as changing nothing cached): a new write route cannot be added without
 * deciding what it invalidates.
 */
describe('cache invalidation covers every write route', () => {
  let offline: OfflineApp;
  beforeAll(async () => {
    offline = await buildOfflineApp();
  });
  afterAll(async () => offline?.app.close());

  it('lists each write under a cached prefix', () => {
    const routes = routesOf(offline.app.printRoutes({ commonPrefix: false }));
    expect(routes).toContain('GET /api/v1/tools/:id/stats');
    const writes = routes.filter((r) => WRITE_METHODS.has(r.split(' ')[0]!) && CACHED_PREFIXES.some((p) => r.split(' ')[1]!.startsWith(p)));
    expect(writes.length).toBeGreaterThan(15);
    const unlisted = writes.filter((r) => !INVALIDATING_WRITES.includes(r) && !(r in CHANGES_NOTHING_CACHED));
    expect(unlisted).toEqual([]);
    // And the table names no route that does not exist.
    expect(INVALIDATING_WRITES.filter((r) => !routes.includes(r))).toEqual([]);
  });
});
