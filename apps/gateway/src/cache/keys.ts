import { createHash } from 'node:crypto';
import type { Principal } from '@csda/auth';

/**
 * JSON with object keys sorted at every level: two values that are equal as
 * data give the same string. Arrays keep their order (a filter list in
 * another order is another key: a miss, never a wrong answer).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return typeof v === 'bigint' ? v.toString() : v;
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, (v as Record<string, unknown>)[k]]),
    );
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * Whose answer it is. `user`: everything in the verified token that decides
 * visibility (id, roles, permissions, explicit scope, the user a service acts
 * for), so a caller whose roles or permissions differ never shares an entry,
 * even before a bump. `public`: only the route's permission, checked before the
 * cache is asked (the role list). Nothing here comes from the request itself:
 * a client cannot pick a value that collides with another caller's scope.
 */
export function scopeHash(principal: Principal | undefined, scope: 'user' | 'public'): string {
  if (scope === 'public') return 'public';
  if (!principal) throw new Error('a user-scoped cache entry needs an authenticated principal');
  const sorted = (list: readonly string[] | undefined) => [...(list ?? [])].sort();
  return sha256(
    canonicalJson({
      kind: principal.kind,
      id: principal.id,
      roles: sorted(principal.roles),
      permissions: sorted(principal.permissions),
      scope: principal.scope ? sorted(principal.scope) : null,
      on_behalf_of: principal.onBehalfOf ?? null,
    }),
  );
}

/**
 * The request as the handler sees it: the route pattern, the path parameters
 * and the *validated* query and body (defaults applied, types coerced, unknown
 * fields dropped), so spellings that mean the same (`?limit=10&offset=0`,
 * `?offset=0&limit=010`) share an entry and nothing the handler ignores can
 * split or merge entries.
 */
export function requestHash(input: { method: string; route: string; params?: unknown; query?: unknown; body?: unknown }): string {
  return sha256(canonicalJson([input.method, input.route, input.params ?? null, input.query ?? null, input.body ?? null]));
}
