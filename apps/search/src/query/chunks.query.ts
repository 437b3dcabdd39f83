import { scopeClause, type Scope } from './access.ts';
import { HIGHLIGHT_OPTIONS, HIGHLIGHT_STRIP, highlightFragments } from './highlight.ts';
import { SqlParams, type Sql } from './sql.ts';

/** What a hit shows of its chunk. */
export interface ChunkView {
  readonly id: string;
  readonly documentId: string;
  readonly documentVersion: number;
  readonly title: string;
  readonly content: string;
  readonly chunkIndex: number;
  readonly headingPath: readonly string[];
  readonly pageStart: number | null;
  readonly pageEnd: number | null;
  readonly highlights: readonly string[];
}

interface ChunkRow {
  id: string;
  document_id: string;
  version: number;
  title: string;
  content: string;
  chunk_index: number;
  heading_path: string[];
  page_start: number | null;
  page_end: number | null;
  headline: string | null;
}

/**
 * The chunks behind the ranked ids, with highlights for `match` (tsquery
 * text; '' = none) — read under the same access scope again, so a chunk
 * whose access or version changed since it was ranked is left out rather
 * than shown. Returned by id; ranking order is the caller's.
 */
export async function loadChunks(sql: Sql, ids: readonly string[], scope: Scope, match: string): Promise<Map<string, ChunkView>> {
  if (ids.length === 0) return new Map();
  const p = new SqlParams();
  const idList = p.add(ids);
  const where = scopeClause('c', scope, p);
  const headline = match
    ? `ts_headline('english', translate(c.content, ${p.add(HIGHLIGHT_STRIP)}, ''), ${p.add(match)}::tsquery, ${p.add(HIGHLIGHT_OPTIONS)})`
    : 'null::text';
  const rows = await sql.query<ChunkRow>(
    `select c.id, c.document_id, c.version, c.title, c.content, c.chunk_index, c.heading_path, c.page_start, c.page_end, ${headline} as headline
     from search.chunks c where c.id = any(${idList}::uuid[]) and ${where}`,
    p.values,
  );
  return new Map(
    rows.map((r) => [
      r.id,
      {
        id: r.id,
        documentId: r.document_id,
        documentVersion: r.version,
        title: r.title,
        content: r.content,
        chunkIndex: r.chunk_index,
        headingPath: r.heading_path,
        pageStart: r.page_start,
        pageEnd: r.page_end,
        highlights: highlightFragments(r.headline),
      },
    ]),
  );
}
