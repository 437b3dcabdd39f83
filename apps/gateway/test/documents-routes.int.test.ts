import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, T0, document, fakeDocumentIngest, startDocumentsApp } from './support/fake-document-ingest.ts';
import { client } from './support/identity-harness.ts';
import { gatewaySigner } from './support/local-backend.ts';
import { buildOfflineApp, offlineAdminToken, offlineUserToken } from './support/offline-app.ts';

const DOC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
const OTHER = '7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

/** The documents routes other than upload, against the fake DocumentIngestService. */
describe('documents REST ↔ DocumentIngestService', () => {
  const fake = fakeDocumentIngest();
  let ctx: Awaited<ReturnType<typeof startDocumentsApp>>;

  beforeAll(async () => {
    ctx = await startDocumentsApp(fake);
  });
  afterAll(async () => ctx?.close());
  beforeEach(() => {
    fake.reset();
    fake.state.docs.set(
      DOC,
      document({
        id: DOC,
        status: {
          status: 'failed',
          stage: 'parse',
          version: 2,
          pagesParsed: 3,
          pagesTotal: 10,
          attempts: 5,
          stageMs: { parse: 1234n },
          error: 'PDF is encrypted with a user password',
          failedStage: 'parse',
          indexedVersion: 1,
          model: 'local:use-lite-512@0.2.0',
          updatedAtMs: BigInt(T0 + 5_000),
        },
      }),
    );
    fake.state.docs.set(OTHER, document({ id: OTHER, ownerId: BOB, title: 'Bob public', isPublic: true, tags: ['health', 'public'] }));
  });

  it('lists what the caller may see with filters and paging, in the page shape', async () => {
    const res = await ctx.api('GET', '/api/v1/documents?status=failed&tags=health&limit=10&offset=0', { token: ctx.alice });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ total: 1, limit: 10, offset: 0, items: [{ id: DOC, status: 'failed' }] });
    expect(fake.seen.at(-1)).toMatchObject({ method: 'listDocuments', req: { status: 'failed', tags: ['health'], limit: 10, offset: 0, ownerId: '' }, principal: { id: ALICE } });
    const both = await ctx.api('GET', '/api/v1/documents?tags=health,public', { token: ctx.alice });
    expect(fake.seen.at(-1)!.req).toMatchObject({ tags: ['health', 'public'], limit: 50 });
    expect(both.body?.items.map((d: { id: string }) => d.id)).toEqual([OTHER]);
    const repeated = await ctx.api('GET', '/api/v1/documents?tags=health&tags=public', { token: ctx.alice });
    expect(repeated.body?.total).toBe(1);
    const bob = await ctx.api('GET', '/api/v1/documents', { token: ctx.bob });
    expect(bob.body?.items.map((d: { id: string }) => d.id)).toEqual([OTHER]);
  });

  it('refuses bad list filters with 422 naming them; owner_id is 403 without documents:admin and passed on with it', async () => {
    for (const [query, field] of [
      ['status=done', 'status'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['offset=-1', 'offset'],
      ['owner_id=nope', 'owner_id'],
      [`tags=${'x'.repeat(101)}`, 'tags.0'],
    ]) {
      const res = await ctx.api('GET', `/api/v1/documents?${query}`, { token: ctx.alice });
      expect(res.status, query).toBe(422);
      expect(Object.keys(res.body?.error.details ?? {}), query).toContain(field);
    }
    const forbidden = await ctx.api('GET', `/api/v1/documents?owner_id=${BOB}`, { token: ctx.alice });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body?.error.message).toBe('Filtering by owner requires documents:admin');
    const admin = await ctx.api('GET', `/api/v1/documents?owner_id=${BOB}`, { token: await offlineAdminToken() });
    expect(admin.status).toBe(200);
    expect(admin.body?.items.map((d: { owner_id: string }) => d.owner_id)).toEqual([BOB]);
  });

  it('gets one document and its status with progress, timings and the reason it failed', async () => {
    const got = await ctx.api('GET', `/api/v1/documents/${DOC}`, { token: ctx.alice });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: DOC, owner_id: ALICE, status: 'failed', processing: { error: 'PDF is encrypted with a user password', stage_ms: { parse: 1234 } } });
    const status = await ctx.api('GET', `/api/v1/documents/${DOC}/status`, { token: ctx.alice });
    expect(status.body).toEqual({
      document_id: DOC,
      status: 'failed',
      stage: 'parse',
      version: 2,
      pages_parsed: 3,
      pages_total: 10,
      chunks_embedded: 0,
      chunks_total: 0,
      attempts: 5,
      stage_ms: { parse: 1234 },
      error: 'PDF is encrypted with a user password',
      failed_stage: 'parse',
      indexed_version: 1,
      model: 'local:use-lite-512@0.2.0',
      updated_at: new Date(T0 + 5_000).toISOString(),
    });
  });

  it("answers 404 in the envelope for documents that are not the caller's (the service decides), and for unknown routes", async () => {
    const bobPrivate = document({ ownerId: BOB, isPublic: false });
    fake.state.docs.set(bobPrivate.id, bobPrivate);
    for (const [method, path, body] of [
      ['GET', `/api/v1/documents/${bobPrivate.id}`],
      ['GET', `/api/v1/documents/${bobPrivate.id}/status`],
      ['PATCH', `/api/v1/documents/${bobPrivate.id}`, { title: 'mine now' }],
      ['DELETE', `/api/v1/documents/${bobPrivate.id}`],
      ['POST', `/api/v1/documents/${bobPrivate.id}/reindex`],
      ['GET', `/api/v1/documents/${bobPrivate.id}/content`],
      // Public, so readable, but not alice's to change or download.
      ['PATCH', `/api/v1/documents/${OTHER}`, { title: 'mine now' }],
      ['DELETE', `/api/v1/documents/${OTHER}`],
      ['GET', `/api/v1/documents/${OTHER}/content`],
    ] as const) {
      const res = await ctx.api(method, path, { token: ctx.alice, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body?.error).toMatchObject({ code: 'NOT_FOUND', details: { resource: 'document' }, request_id: expect.any(String) });
    }
    expect(fake.state.docs.get(OTHER)?.title).toBe('Bob public');
    const notUuid = await ctx.api('GET', '/api/v1/documents/nope', { token: ctx.alice });
    expect(notUuid.status).toBe(422);
    expect(notUuid.body?.error.details).toHaveProperty('id');
  });

  it('patches only the fields given, refusing bad ones with 422 naming the field', async () => {
    const res = await ctx.api('PATCH', `/api/v1/documents/${DOC}`, { token: ctx.alice, body: { tags: ['a', 'b'], shared_with_roles: [], is_public: true } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const req = fake.seen.at(-1)!.req as { title?: string; tags?: { values: string[] }; sharedWithRoles?: { values: string[] }; isPublic?: boolean };
    expect(req.title).toBeUndefined();
    expect(req.tags?.values).toEqual(['a', 'b']);
    expect(req.sharedWithRoles?.values).toEqual([]);
    expect(req.isPublic).toBe(true);
    expect(res.body).toMatchObject({ tags: ['a', 'b'], is_public: true, shared_with_roles: [], title: 'Scurvy' });
    const titled = await ctx.api('PATCH', `/api/v1/documents/${DOC}`, { token: ctx.alice, body: { title: ' New ' } });
    expect((fake.seen.at(-1)!.req as { tags?: unknown }).tags).toBeUndefined();
    expect(titled.body?.title).toBe('New');
    for (const [body, field] of [
      [{ title: '' }, 'title'],
      [{ title: 'x'.repeat(501) }, 'title'],
      [{ tags: ['ok', ''] }, 'tags.1'],
      [{ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, 'tags'],
      [{ shared_with_roles: ['lower'] }, 'shared_with_roles.0'],
      [{ is_public: 'yes' }, 'is_public'],
      [{ owner_id: BOB }, 'body'],
    ] as const) {
      const bad = await ctx.api('PATCH', `/api/v1/documents/${DOC}`, { token: ctx.alice, body });
      expect(bad.status, JSON.stringify(body)).toBe(422);
      expect(Object.keys(bad.body?.error.details ?? {}), JSON.stringify(bad.body)).toContain(field);
    }
  });

  it('deletes (204), reindexes (202, a new version) and checks permissions (401 without a token, 403 without documents:read/write)', async () => {
    const reindexed = await ctx.api('POST', `/api/v1/documents/${DOC}/reindex`, { token: ctx.alice });
    expect(reindexed.status).toBe(202);
    expect(reindexed.body).toMatchObject({ id: DOC, status: 'queued', processing: { version: 3, indexed_version: 1, error: null } });
    const deleted = await ctx.api('DELETE', `/api/v1/documents/${DOC}`, { token: ctx.alice });
    expect(deleted.status).toBe(204);
    expect(fake.state.docs.has(DOC)).toBe(false);
    expect((await ctx.api('GET', `/api/v1/documents/${DOC}`, { token: ctx.alice })).status).toBe(404);

    expect((await ctx.api('GET', '/api/v1/documents')).status).toBe(401);
    const none = await offlineUserToken({ id: ALICE, username: 'alice', permissions: ['search:query'] });
    const reader = await offlineUserToken({ id: ALICE, username: 'alice', permissions: ['documents:read'] });
    const calls = fake.seen.length;
    expect((await ctx.api('GET', '/api/v1/documents', { token: none })).status).toBe(403);
    expect((await ctx.api('GET', `/api/v1/documents/${OTHER}/content`, { token: none })).status).toBe(403);
    for (const [method, path] of [
      ['PATCH', `/api/v1/documents/${OTHER}`],
      ['DELETE', `/api/v1/documents/${OTHER}`],
      ['POST', `/api/v1/documents/${OTHER}/reindex`],
    ] as const) {
      const res = await ctx.api(method, path, { token: reader, body: method === 'PATCH' ? { title: 'x' } : undefined });
      expect(res.status, path).toBe(403);
      expect(res.body?.error.message).toBe('Permission documents:write required');
    }
    expect(fake.seen.length).toBe(calls);
  });

  it('streams the original to its owner with the stored type, length, name and digest, as an attachment that runs nothing', async () => {
    const bytes = Buffer.from('<html><script>alert(1)</script>café</html>');
    const doc = document({ filename: 'naïve "report".html', mimeType: 'text/html; charset=utf-8', sizeBytes: BigInt(bytes.length), sha256: createHash('sha256').update(bytes).digest('hex') });
    fake.state.docs.set(doc.id, doc);
    fake.state.contents.set(doc.id, bytes);
    const res = await ctx.app.inject({ method: 'GET', url: `/api/v1/documents/${doc.id}/content`, headers: { authorization: `Bearer ${ctx.alice}` } });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(bytes)).toBe(true);
    expect(res.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(bytes.length),
      'content-disposition': `attachment; filename="na_ve _report_.html"; filename*=UTF-8''na%C3%AFve%20%22report%22.html`,
      'content-security-policy': "default-src 'none'; sandbox",
      'repr-digest': `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`,
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    });
    const big = document({ mimeType: 'text/plain\r\nset-cookie: x=1', sizeBytes: 300_000n });
    fake.state.docs.set(big.id, big);
    fake.state.contents.set(big.id, Buffer.alloc(300_000, 'z'));
    const streamed = await ctx.app.inject({ method: 'GET', url: `/api/v1/documents/${big.id}/content`, headers: { authorization: `Bearer ${ctx.alice}` } });
    expect(streamed.rawPayload.length).toBe(300_000);
    expect(streamed.headers['content-type']).toBe('application/octet-stream');
    expect(streamed.headers['set-cookie']).toBeUndefined();
  });

  it('cancels GetDocumentContent when the client stops reading and leaves; 503 when document-ingest is down', async () => {
    const big = document({ sizeBytes: BigInt(32 * 1024 * 1024) });
    fake.state.docs.set(big.id, big);
    fake.state.contents.set(big.id, Buffer.alloc(32 * 1024 * 1024, 'b'));
    const base = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
    {
      const res = await fetch(`${base}/api/v1/documents/${big.id}/content`, { headers: { authorization: `Bearer ${ctx.alice}` } });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel();
      const end = Date.now() + 10_000;
      while (fake.contentReads.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(fake.contentReads).toEqual([{ id: big.id, sent: expect.any(Number), aborted: true }]);
      expect(fake.contentReads[0]!.sent).toBeLessThan(24 * 1024 * 1024);
    }
    const down = await buildOfflineApp({ signer: gatewaySigner().signer });
    try {
      for (const path of ['/api/v1/documents', `/api/v1/documents/${DOC}`, `/api/v1/documents/${DOC}/content`]) {
        const res = await client(down.app)('GET', path, { token: ctx.alice });
        expect(res.status, path).toBe(503);
        expect(res.body?.error.code).toBe('EXTERNAL_SERVICE_ERROR');
      }
    } finally {
      await down.app.close();
    }
  });

  it('documents every route in the OpenAPI document (multipart upload, binary content) behind bearer auth', async () => {
    const spec = (await ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = spec.paths;
    expect(Object.keys(paths['/api/v1/documents'])).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(paths['/api/v1/documents/{id}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    const upload = paths['/api/v1/documents'].post;
    expect(upload.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(upload.requestBody.content)).toEqual(['multipart/form-data']);
    const ref: string = upload.requestBody.content['multipart/form-data'].schema.$ref;
    const form = spec.components.schemas[ref.split('/').at(-1)!];
    expect(form.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(Object.keys(form.properties)).toEqual(['title', 'tags', 'is_public', 'shared_with_roles', 'file']);
    expect(Object.keys(upload.responses)).toEqual(expect.arrayContaining(['200', '202', '401', '403', '413', '422', '429', '503']));
    expect(upload.parameters.map((p: { name: string }) => p.name)).toContain('duplicate');
    expect(Object.keys(paths['/api/v1/documents/{id}/content'].get.responses['200'].content)).toEqual(['application/octet-stream']);
    expect(paths['/api/v1/documents/{id}/status'].get.responses['200']).toBeDefined();
    expect(paths['/api/v1/documents/{id}/reindex'].post.responses['202']).toBeDefined();
    expect(spec.components.schemas).toHaveProperty('Document');
  });
});
