import type { Principal } from '@csda/auth';
import { describe, expect, it } from 'vitest';
import { ifNoneMatchMatches, strongEtag } from './etag.ts';
import { canonicalJson, requestHash, scopeHash } from './keys.ts';

const alice: Principal = { kind: 'user', id: 'u-alice', name: 'alice', roles: ['USER', 'ANALYST'], permissions: ['documents:read', 'search:query'] };

describe('cache keys', () => {
  it('canonical JSON ignores key order at every level, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
    expect(canonicalJson({ n: 10n })).toBe('{"n":"10"}');
  });

  it('the user scope changes with anything that decides visibility, not with the role order', () => {
    const base = scopeHash(alice, 'user');
    expect(scopeHash({ ...alice, roles: ['ANALYST', 'USER'] }, 'user')).toBe(base);
    expect(scopeHash({ ...alice, name: 'alice' }, 'user')).toBe(base);
    for (const other of [
      { ...alice, id: 'u-bob' },
      { ...alice, roles: ['USER'] },
      { ...alice, permissions: ['documents:read'] },
      { ...alice, permissions: [...alice.permissions, 'documents:admin'] },
      { ...alice, kind: 'service' as const },
      { ...alice, scope: ['tools:read:t1'] },
      { ...alice, onBehalfOf: { id: 'u-alice', roles: ['USER'] } } as unknown as Principal,
    ]) {
      expect(scopeHash(other, 'user')).not.toBe(base);
    }
    expect(scopeHash(alice, 'public')).toBe('public');
    expect(() => scopeHash(undefined, 'user')).toThrow(/authenticated principal/);
  });

  it('requests that mean the same share a hash; any difference in route, params, query or body splits it', () => {
    const h = (x: Partial<Parameters<typeof requestHash>[0]>) => requestHash({ method: 'GET', route: '/api/v1/documents', query: { limit: 10, offset: 0 }, ...x });
    expect(h({ query: { offset: 0, limit: 10 } })).toBe(h({}));
    const differing = [h({ query: { limit: 10, offset: 1 } }), h({ route: '/api/v1/tools' }), h({ method: 'POST' }), h({ params: { id: 'x' } }), h({ body: { query: 'a' } }), h({ query: { limit: '10', offset: 0 } })];
    expect(new Set([h({}), ...differing]).size).toBe(differing.length + 1);
    // No concatenation ambiguity: values that would join alike stay apart.
    expect(requestHash({ method: 'GET', route: '/a', params: { id: 'b:c' } })).not.toBe(requestHash({ method: 'GET', route: '/a:b', params: { id: 'c' } }));
  });
});

describe('ETag', () => {
  it('is strong, quoted, and changes with any byte', () => {
    const tag = strongEtag('{"a":1}');
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(strongEtag('{"a":2}')).not.toBe(tag);
  });

  it('If-None-Match: a listed tag, weak form or * matches; others do not', () => {
    const tag = strongEtag('x');
    expect(ifNoneMatchMatches(tag, tag)).toBe(true);
    expect(ifNoneMatchMatches(`"nope", ${tag}`, tag)).toBe(true);
    expect(ifNoneMatchMatches(`W/${tag}`, tag)).toBe(true);
    expect(ifNoneMatchMatches('*', tag)).toBe(true);
    expect(ifNoneMatchMatches('"nope"', tag)).toBe(false);
    expect(ifNoneMatchMatches(undefined, tag)).toBe(false);
    expect(ifNoneMatchMatches(tag.slice(0, -2) + '"', tag)).toBe(false);
  });
});
