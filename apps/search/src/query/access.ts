import type { SqlParams } from './sql.ts';

/** Who is asking: their id (null when the caller is not a user: it owns nothing) and role names. */
export interface Viewer {
  readonly userId: string | null;
  readonly roles: readonly string[];
}

export interface Scope {
  readonly viewer: Viewer;
  readonly documentIds: readonly string[];
  readonly tags: readonly string[];
}

/**
 * The WHERE clause every search query carries on the rows it reads (chunks
 * and passages hold their document's access facts, `search.documents` the
 * newest ones): live rows the viewer may see — public, their own, or shared
 * with one of their roles — narrowed by the request's filters. Values are
 * bind parameters. `table: 'documents'` checks a document row (live = has a
 * live version).
 */
export function scopeClause(alias: string, scope: Scope, p: SqlParams, table: 'rows' | 'documents' = 'rows'): string {
  const a = alias;
  const owner = scope.viewer.userId === null ? 'false' : `${a}.owner_id = ${p.add(scope.viewer.userId)}`;
  const roles = scope.viewer.roles.length === 0 ? '' : ` or ${a}.shared_roles && ${p.add(scope.viewer.roles)}::text[]`;
  const parts = [table === 'rows' ? `${a}.live` : `${a}.live_version is not null`, `(${a}.is_public or ${owner}${roles})`];
  if (scope.documentIds.length > 0) parts.push(`${a}.document_id = any(${p.add(scope.documentIds)}::uuid[])`);
  if (scope.tags.length > 0) parts.push(`${a}.tags && ${p.add(scope.tags)}::text[]`);
  return parts.join(' and ');
}

/** `chunks.access` tokens (migration access-tokens) that let `viewer` see a chunk: any one suffices. */
export function accessTokens(viewer: Viewer): string[] {
  return ['public', ...(viewer.userId === null ? [] : [`user:${viewer.userId}`]), ...viewer.roles.map((r) => `role:${r}`)];
}

/**
 * `scopeClause`'s access test restated over `chunks.access`, for the GIN
 * index over (tsv, access): a scan with both conditions fetches only chunks
 * the viewer may see. It narrows, never decides — `scopeClause` stays beside it.
 */
export const accessTokensClause = (alias: string, viewer: Viewer, p: SqlParams) => `${alias}.access && ${p.add(accessTokens(viewer))}::text[]`;
