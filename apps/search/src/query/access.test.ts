import { describe, expect, it } from 'vitest';
import { accessTokens, accessTokensClause, scopeClause } from './access.ts';
import { SqlParams } from './sql.ts';

const U = '1a2b3c4d-0000-4000-8000-00000000000a';
const D = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';

describe('scopeClause', () => {
  it('lets a user see live public rows, their own and those shared with a role, all as bind parameters', () => {
    const p = new SqlParams();
    p.add('earlier');
    expect(scopeClause('c', { viewer: { userId: U, roles: ['USER', "O'NEIL"] }, documentIds: [], tags: [] }, p)).toBe(
      'c.live and (c.is_public or c.owner_id = $2 or c.shared_roles && $3::text[])',
    );
    expect(p.values).toEqual(['earlier', U, ['USER', "O'NEIL"]]);
  });

  it('without roles or a user id, only public rows remain', () => {
    const p = new SqlParams();
    expect(scopeClause('p', { viewer: { userId: null, roles: [] }, documentIds: [], tags: [] }, p)).toBe('p.live and (p.is_public or false)');
    expect(p.values).toEqual([]);
  });

  it('adds the filters inside the same clause, never widening it', () => {
    const p = new SqlParams();
    const clause = scopeClause('c', { viewer: { userId: U, roles: [] }, documentIds: [D], tags: ['a', 'b'] }, p);
    expect(clause).toBe('c.live and (c.is_public or c.owner_id = $1) and c.document_id = any($2::uuid[]) and c.tags && $3::text[]');
    expect(p.values).toEqual([U, [D], ['a', 'b']]);
  });

  it('checks a document row by its live version', () => {
    const p = new SqlParams();
    expect(scopeClause('d', { viewer: { userId: U, roles: ['R'] }, documentIds: [], tags: ['t'] }, p, 'documents')).toBe(
      'd.live_version is not null and (d.is_public or d.owner_id = $1 or d.shared_roles && $2::text[]) and d.tags && $3::text[]',
    );
  });
});

describe('accessTokens', () => {
  it("names what lets the viewer see a chunk: public, their own, a role's — one token each", () => {
    expect(accessTokens({ userId: U, roles: ['USER', "O'NEIL"] })).toEqual(['public', `user:${U}`, 'role:USER', "role:O'NEIL"]);
    expect(accessTokens({ userId: null, roles: [] })).toEqual(['public']);
    const p = new SqlParams();
    expect(accessTokensClause('c', { userId: U, roles: [] }, p)).toBe('c.access && $1::text[]');
    expect(p.values).toEqual([['public', `user:${U}`]]);
  });
});
