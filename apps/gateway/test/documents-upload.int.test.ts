import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, fakeDocumentIngest, startDocumentsApp } from './support/fake-document-ingest.ts';
import { multipartBody, type Part } from './support/multipart.ts';
import { offlineUserToken } from './support/offline-app.ts';

const text = (filename: string, content: string | Buffer, contentType = 'text/plain'): Part => ({ name: 'file', filename, content: Buffer.from(content), contentType });

/** POST /api/v1/documents through inject (whole bodies) against the fake DocumentIngestService. */
describe('document upload: fields, duplicates and refusals', () => {
  const fake = fakeDocumentIngest();
  let ctx: Awaited<ReturnType<typeof startDocumentsApp>>;

  beforeAll(async () => {
    ctx = await startDocumentsApp(fake);
  });
  afterAll(async () => ctx?.close());
  beforeEach(() => fake.reset());

  const upload = async (parts: Part[], options: { token?: string; query?: string } = {}) => {
    const { payload, headers } = multipartBody(parts);
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/api/v1/documents${options.query ?? ''}`,
      payload,
      headers: { ...headers, ...(options.token === '' ? {} : { authorization: `Bearer ${options.token ?? ctx.alice}` }) },
    });
    return { status: res.statusCode, headers: res.headers, body: res.body ? res.json() : undefined };
  };

  it('streams a new document with its metadata as the caller: 202 with the document, its status and a location', async () => {
    const res = await upload([
      { name: 'title', value: '  Vitamin C  ' },
      { name: 'tags', value: 'health, nutrition' },
      { name: 'tags', value: 'history' },
      { name: 'is_public', value: 'true' },
      { name: 'shared_with_roles', value: '["ANALYST","AUDITOR"]' },
      text('dir/scurvy.txt', 'Scurvy is caused by a lack of vitamin C.'),
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const [seen] = fake.uploads;
    expect(seen).toMatchObject({ outcome: 'stored', bytes: 40, principal: { kind: 'user', id: ALICE, roles: ['USER', 'ANALYST'] } });
    expect(seen!.metadata).toMatchObject({ filename: 'scurvy.txt', title: 'Vitamin C', tags: ['health', 'nutrition', 'history'], isPublic: true, sharedWithRoles: ['ANALYST', 'AUDITOR'], allowDuplicate: false });
    expect(res.headers.location).toBe(`/api/v1/documents/${res.body?.id}`);
    expect(res.headers.connection).not.toBe('close');
    expect(res.body).toMatchObject({
      owner_id: ALICE,
      title: 'Vitamin C',
      tags: ['health', 'nutrition', 'history'],
      is_public: true,
      shared_with_roles: ['ANALYST', 'AUDITOR'],
      filename: 'scurvy.txt',
      size_bytes: 40,
      sha256: createHash('sha256').update('Scurvy is caused by a lack of vitamin C.').digest('hex'),
      status: 'queued',
      processing: { status: 'queued', stage: null, version: 1, error: null, indexed_version: null },
      created_at: '2026-12-09T12:00:00.000Z',
    });
  });

  it('answers 200 with the existing document for identical content, and 202 with a new one under ?duplicate=allow', async () => {
    const first = await upload([text('a.txt', 'same bytes')]);
    expect(first.status).toBe(202);
    const again = await upload([{ name: 'title', value: 'Other title' }, text('b.txt', 'same bytes')]);
    expect(again.status).toBe(200);
    expect(again.body?.id).toBe(first.body?.id);
    expect(again.headers.location).toBe(`/api/v1/documents/${first.body?.id}`);
    const allowed = await upload([text('b.txt', 'same bytes')], { query: '?duplicate=allow' });
    expect(allowed.status).toBe(202);
    expect(allowed.body?.id).not.toBe(first.body?.id);
    expect(fake.uploads.map((u) => [u.outcome, u.metadata.allowDuplicate])).toEqual([
      ['stored', false],
      ['duplicate', false],
      ['stored', true],
    ]);
    expect((await upload([text('b.txt', 'x')], { query: '?duplicate=yes' })).status).toBe(422);
  });

  it('takes fields of the full allowance with a file in the same chunk (inject sends the body whole): the form budget counts only what comes before the file', async () => {
    const tags = Array.from({ length: 50 }, (_, i) => `${'t'.repeat(97)}-${i}`);
    const res = await upload([{ name: 'title', value: 'é'.repeat(500) }, ...tags.map((value) => ({ name: 'tags', value })), text('big.txt', Buffer.alloc(1024 * 1024, 'b'))]);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body?.tags).toEqual(tags);
  });

  it('refuses bad fields with 422 naming the field, before anything reaches document-ingest', async () => {
    const file = text('a.txt', 'hello');
    const cases: [Part[], string][] = [
      [[{ name: 'title', value: 'x'.repeat(501) }, file], 'title'],
      [[{ name: 'title', value: '   ' }, file], 'title'],
      [[{ name: 'title', value: 'a\u0007b' }, file], 'title'],
      [[{ name: 'title', value: 'a' }, { name: 'title', value: 'b' }, file], 'title'],
      [[{ name: 'tags', value: Array.from({ length: 51 }, (_, i) => `t${i}`).join(',') }, file], 'tags'],
      [[{ name: 'tags', value: 'ok,' + 'x'.repeat(101) }, file], 'tags.1'],
      [[{ name: 'tags', value: 'a\u0000b' }, file], 'tags.0'],
      [[{ name: 'tags', value: '[1, "two"]' }, file], 'tags.0'],
      [[{ name: 'is_public', value: 'maybe' }, file], 'is_public'],
      [[{ name: 'shared_with_roles', value: 'analyst' }, file], 'shared_with_roles.0'],
      [[{ name: 'shared_with_roles', value: Array.from({ length: 51 }, (_, i) => `R${i}`).join(',') }, file], 'shared_with_roles'],
      [[{ name: 'owner_id', value: ALICE }, file], 'owner_id'],
      [[{ name: 'title', value: 't' }], 'file'],
      [[{ name: 'file', value: 'not a file part' }], 'file'],
      [[{ name: 'document', filename: 'a.txt', content: Buffer.from('x') }], 'document'],
      [[text('   ', 'hello')], 'file'],
      [[{ name: 'title', value: 'x'.repeat(70 * 1024) }, file], 'title'],
    ];
    for (const [parts, field] of cases) {
      const res = await upload(parts);
      expect(res.status, `${field}: ${JSON.stringify(res.body)}`).toBe(422);
      expect(res.body?.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(res.body?.error.details ?? {}), JSON.stringify(res.body)).toContain(field);
      expect(res.body?.error.request_id).toEqual(expect.any(String));
    }
    expect(fake.uploads).toHaveLength(0);
  });

  it("passes the service's type refusals on as 422 naming what was found (mismatch, unsupported, empty)", async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const mismatch = await upload([text('report.pdf', png, 'application/pdf')]);
    expect(mismatch.status).toBe(422);
    expect(mismatch.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'the file is a PNG image but its name ends in .pdf', details: { field: 'file', reason: 'mismatch', found: 'a PNG image', extension: '.pdf' } });
    const unsupported = await upload([text('photo.png', png, 'image/png')]);
    expect(unsupported.body?.error.details).toMatchObject({ reason: 'unsupported', found: 'a PNG image' });
    const empty = await upload([text('empty.txt', '')]);
    expect(empty.status).toBe(422);
    expect(empty.body?.error).toMatchObject({ message: 'the file is empty (0 bytes)', details: { field: 'file', reason: 'empty' } });
    expect(await fake.settled(3)).toEqual(['refused', 'refused', 'refused']);
    expect(fake.state.docs.size).toBe(0);
  });

  it('cancels the upload when a part follows the file or a second file comes: 422, nothing stored', async () => {
    const after = await upload([text('a.txt', 'hello'), { name: 'title', value: 'late' }]);
    expect(after.status).toBe(422);
    expect(after.body?.error.details).toEqual({ title: 'must come before the file part' });
    const two = await upload([text('a.txt', 'hello'), text('b.txt', 'again')]);
    expect(two.status).toBe(422);
    expect(two.body?.error.details).toEqual({ file: 'exactly one file part' });
    expect(await fake.settled(2)).toEqual(['cancelled', 'cancelled']);
    expect(fake.state.docs.size).toBe(0);
  });

  it('refuses what is not a well-formed multipart upload with 422 (a truncated body cancels the upload)', async () => {
    const json = await ctx.api('POST', '/api/v1/documents', { token: ctx.alice, body: { title: 'x' } });
    expect(json.status).toBe(422);
    expect(json.body?.error.details).toEqual({ content_type: 'expected multipart/form-data' });
    const octets = await ctx.app.inject({ method: 'POST', url: '/api/v1/documents', payload: Buffer.from('%PDF-1.7'), headers: { 'content-type': 'application/pdf', authorization: `Bearer ${ctx.alice}` } });
    expect(octets.statusCode).toBe(422);
    expect(octets.json().error.details).toEqual({ content_type: 'expected multipart/form-data' });
    const noBoundary = await ctx.app.inject({ method: 'POST', url: '/api/v1/documents', payload: 'x', headers: { 'content-type': 'multipart/form-data', authorization: `Bearer ${ctx.alice}` } });
    expect(noBoundary.statusCode).toBe(422);
    expect(noBoundary.json().error.details).toEqual({ content_type: 'multipart/form-data with a boundary' });
    const { payload, headers } = multipartBody([text('a.txt', 'hello world')]);
    const truncated = await ctx.app.inject({ method: 'POST', url: '/api/v1/documents', payload: payload.subarray(0, payload.length - 30), headers: { ...headers, authorization: `Bearer ${ctx.alice}` } });
    expect(truncated.statusCode).toBe(422);
    expect(truncated.json().error.details).toEqual({ body: 'ended before the closing boundary' });
    expect(await fake.settled(1)).toEqual(['cancelled']);
    expect(fake.state.docs.size).toBe(0);
  });

  it('needs a token (401) and documents:write (403), before reading the body', async () => {
    const anonymous = await upload([text('a.txt', 'hello')], { token: '' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body?.error.code).toBe('AUTHENTICATION_ERROR');
    const reader = await offlineUserToken({ id: ALICE, username: 'alice', permissions: ['documents:read'] });
    const forbidden = await upload([text('a.txt', 'hello')], { token: reader });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body?.error).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: 'Permission documents:write required' });
    expect(fake.uploads).toHaveLength(0);
  });
});
