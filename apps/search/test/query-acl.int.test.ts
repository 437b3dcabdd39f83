import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONER, ROLES, TAGS, USERS, WORDS, makeCorpus, prng, visible, type CorpusDoc, type Viewer } from './query-support/corpus.ts';
import { QUERY_MODEL, startQueryHarness, type QueryHarness, type SearchAs, type SearchRequestInit } from './query-support/query-harness.ts';

const SEED = Number(process.env.QUERY_ACL_SEED ?? 20261201);
const MODES = ['vector', 'keyword', 'hybrid'] as const;

/**
 * A user never gets a chunk they may not see, whatever the mode, filters or
 * top_k: randomised queries by random viewers against a random corpus, on a
 * replica that plans by scope size (the defaults: this corpus is small enough
 * for exact vector scans and keyword matches found by document) and one that
 * always goes through the indexes (HNSW, GIN rounds). The corpus has one public document in 100, so
 * LONER (no documents, a role nobody shares with) sees 1 % of the index.
 */
describe('access control in every mode', () => {
  let h: QueryHarness;
  let hnswOnly: SearchAs;
  let corpus: CorpusDoc[];
  /** chunk id → its document, from the index itself. */
  const chunkDoc = new Map<string, string>();

  beforeAll(async () => {
    h = await startQueryHarness('query_acl');
    hnswOnly = await h.startReplica({ SEARCH_EXACT_MAX_CHUNKS: '0', SEARCH_KEYWORD_SCOPE_MAX_CHUNKS: '0' });
    corpus = makeCorpus(SEED, { documents: 100, chunks: 20, publicDocs: 1, model: QUERY_MODEL });
    await h.load(corpus);
    for (const r of await h.index.sql<{ id: string; document_id: string }>('select id, document_id from search.chunks where live')) chunkDoc.set(r.id, r.document_id);
    expect(chunkDoc.size).toBe(2_000);
  }, 300_000);

  afterAll(async () => {
    await h?.close();
  });

  const byId = () => new Map(corpus.map((d) => [d.documentId, d]));

  it('returns only visible chunks that pass the filters, for random viewers, modes, filters and top_k', async () => {
    const r = prng(SEED + 1);
    const docs = byId();
    const viewers: Viewer[] = [...USERS.map((id) => ({ id, roles: r.subset(ROLES, 0.4) })), { id: LONER, roles: ['R9'] }, { id: USERS[0]!, roles: [...ROLES] }];
    let checked = 0;
    for (let i = 0; i < 120; i++) {
      const viewer = r.pick(viewers);
      const mode = r.pick(MODES);
      const words = Array.from({ length: 1 + r.int(4) }, () => r.pick(WORDS)).join(' ');
      const query = mode === 'keyword' ? words : `vec:${1 + r.int(1_000_000)} ${words}`;
      const documentIds = r.next() < 0.3 ? r.subset(corpus, 0.1).map((d) => d.documentId) : [];
      const tags = r.next() < 0.3 ? r.subset(TAGS, 0.5) : [];
      const req: SearchRequestInit = { query, mode, topK: 1 + r.int(100), filters: { documentIds, tags } };
      const search = r.next() < 0.5 ? h.search : hnswOnly;
      const res = await search({ id: viewer.id, roles: viewer.roles }, req);
      for (const hit of res.results) {
        const doc = docs.get(hit.documentId);
        const context = JSON.stringify({ i, viewer, req });
        expect(doc, context).toBeDefined();
        expect(chunkDoc.get(hit.chunkId), context).toBe(hit.documentId);
        expect(visible(doc!.access, viewer), context).toBe(true);
        if (documentIds.length > 0) expect(documentIds, context).toContain(hit.documentId);
        if (tags.length > 0) expect(doc!.access.tags.some((t) => tags.includes(t)), context).toBe(true);
        checked++;
      }
      expect(res.results.length).toBeLessThanOrEqual(req.topK!);
    }
    // The property was exercised, not vacuously true.
    expect(checked).toBeGreaterThan(500);
  });

  it('a caller who sees 1 % of the index still gets top_k hits, through HNSW (iterative scan) and the exact plan alike', async () => {
    const loner = { id: LONER, roles: ['R9'] };
    const publicDoc = corpus.find((d) => d.access.isPublic)!;
    for (const search of [h.search, hnswOnly]) {
      for (const mode of MODES) {
        const res = await search(loner, { query: `vec:7 ${WORDS.slice(0, 12).join(' ')}`, mode, topK: 10 });
        expect(res.results, mode).toHaveLength(10);
        expect(new Set(res.results.map((x) => x.documentId)), mode).toEqual(new Set([publicDoc.documentId]));
      }
      const all = await search(loner, { query: 'vec:7', mode: 'vector', topK: 100 });
      expect(all.results).toHaveLength(20);
    }
    // Both plans find the same nearest chunks for this scope.
    const exact = await h.search(loner, { query: 'vec:99', mode: 'vector', topK: 10 });
    const approx = await hnswOnly(loner, { query: 'vec:99', mode: 'vector', topK: 10 });
    expect(approx.results.map((x) => x.chunkId)).toEqual(exact.results.map((x) => x.chunkId));
  });

  it('an owner sees all of their own chunks and a role holder those shared with the role, no more', async () => {
    const owner = USERS[1]!;
    const own = corpus.filter((d) => d.access.ownerId === owner && !d.access.isPublic).length * 20;
    const res = await h.search({ id: owner }, { query: 'vec:5', mode: 'vector', topK: 100 });
    const visibleCount = corpus.filter((d) => visible(d.access, { id: owner, roles: [] })).length * 20;
    expect(res.results).toHaveLength(Math.min(100, visibleCount));
    expect(own).toBeGreaterThan(0);
    const shared = corpus.filter((d) => d.access.sharedRoles.includes('R2'));
    const viaRole = await h.search({ id: LONER, roles: ['R2'] }, { query: WORDS.join(' '), mode: 'keyword', topK: 100 });
    for (const hit of viaRole.results) expect([...shared.map((d) => d.documentId), corpus[0]!.documentId]).toContain(hit.documentId);
    expect(viaRole.results.length).toBe(100);
  });
});
