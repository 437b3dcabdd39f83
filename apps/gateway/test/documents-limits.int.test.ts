import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MiB, fakeDocumentIngest, startDocumentsApp } from './support/fake-document-ingest.ts';
import { boundary, partHead, streamUpload, type Part, type StreamedResponse } from './support/multipart.ts';

const until = async (what: string, check: () => boolean, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Resolves `ms` from now, or at once when `stop` is called (a client told to give up). */
function gate(ms = 30_000) {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
    setTimeout(r, ms).unref();
  });
  return { opened, open };
}

/**
 * A client that sends the start of a form (`head`, given the boundary), then
 * one more byte of the same field every `everyMs` (never, without it), never
 * reaching the file, until the server answers (or 10 s pass: it gives up).
 */
function sendAndStall(url: string, token: string, head: (b: string) => Buffer, everyMs?: number): Promise<StreamedResponse & { at: number }> {
  const b = boundary();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${b}` } });
    const closed = new Promise<void>((ok) => req.once('socket', (s) => s.once('close', () => ok())));
    req.write(head(b));
    const tick = everyMs === undefined ? undefined : setInterval(() => req.write('x'), everyMs);
    const giveUp = setTimeout(() => req.destroy(new Error('no answer within 10 s')), 10_000);
    req.on('error', (err) => {
      clearInterval(tick);
      clearTimeout(giveUp);
      reject(err);
    });
    req.on('response', (res) => {
      clearInterval(tick);
      clearTimeout(giveUp);
      const at = performance.now() - started;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as StreamedResponse['body'], sentWhenAnswered: 0, finished: false, closed, at }));
    });
  });
}

/**
 * The upload's form phase over real HTTP/1.1: the per-user slot and the
 * transfer deadline hold from the body's first byte, and the text fields
 * are refused one by one as they arrive, never all buffered first.
 */
describe('document upload: limits while the form fields arrive', () => {
  const fake = fakeDocumentIngest();
  let ctx: Awaited<ReturnType<typeof startDocumentsApp>>;
  let url: string;

  beforeAll(async () => {
    ctx = await startDocumentsApp(fake, { maxBytes: 8 * MiB, timeoutMs: 1_000, perUser: 1 });
    url = `${await ctx.app.listen({ host: '127.0.0.1', port: 0 })}/api/v1/documents`;
  });
  afterAll(async () => ctx?.close());
  afterEach(() => fake.reset());

  const upload = (fields: Part[], options: Partial<Parameters<typeof streamUpload>[0]> = {}) =>
    streamUpload({ url, token: ctx.alice, fields, filename: 'a.txt', fileBytes: 1024, ...options });

  it('counts uploads still sending their form against DOCUMENT_UPLOADS_PER_USER: 429 at once beyond it, other users unaffected', async () => {
    const wide = await startDocumentsApp(fake, { maxBytes: 8 * MiB, timeoutMs: 60_000, perUser: 2 });
    try {
      const wideUrl = `${await wide.app.listen({ host: '127.0.0.1', port: 0 })}/api/v1/documents`;
      const hold = gate();
      const answered: StreamedResponse[] = [];
      // Six uploads from alice, each stopping after its first field (what a slow form looks like to the gateway).
      const slow = Array.from({ length: 6 }, (_, i) =>
        streamUpload({ url: wideUrl, token: wide.alice, fields: [{ name: 'title', value: 'Slow' }, { name: 'tags', value: 'a,b' }], filename: 'slow.txt', fileBytes: 1024 + i, beforeField: (i) => (i === 1 ? hold.opened : undefined) }).then((r) => {
          answered.push(r);
          return r;
        }),
      );
      await until('four uploads refused', () => answered.length === 4);
      for (const r of answered) {
        expect(r.status, JSON.stringify(r.body)).toBe(429);
        expect(r.headers.connection).toBe('close');
        expect(r.body?.error).toMatchObject({ code: 'RATE_LIMITED', message: 'You have 2 uploads in flight; wait for one to finish', details: { limit: '2', setting: 'DOCUMENT_UPLOADS_PER_USER' } });
      }
      const bob = await streamUpload({ url: wideUrl, token: wide.bob, fields: [{ name: 'title', value: 'Bob' }], filename: 'bob.txt', fileBytes: 1024 });
      expect(bob.status).toBe(202);
      expect(fake.uploads.map((u) => u.metadata.title)).toEqual(['Bob']);
      expect(answered).toHaveLength(4);
      hold.open();
      const statuses = (await Promise.all(slow)).map((r) => r.status);
      expect(statuses.filter((s) => s === 202)).toHaveLength(2);
      expect(statuses.filter((s) => s === 429)).toHaveLength(4);
      const next = await streamUpload({ url: wideUrl, token: wide.alice, fields: [], filename: 'next.txt', fileBytes: 2048 });
      expect(next.status).toBe(202);
    } finally {
      await wide.close();
    }
  });

  it('calls off a form trickled past DOCUMENT_TRANSFER_TIMEOUT_S: 422 naming the form, the connection closed, the slot freed', async () => {
    const res = await sendAndStall(url, ctx.alice, (b) => partHead({ name: 'title', value: '' }, b), 100);
    expect(res.status).toBe(422);
    expect(res.at).toBeGreaterThanOrEqual(900);
    expect(res.at).toBeLessThan(3_000);
    expect(res.headers.connection).toBe('close');
    expect(res.body?.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'The upload did not finish within 1 s', details: { form: 'fields not received within 1 s (DOCUMENT_TRANSFER_TIMEOUT_S)' } });
    await res.closed;
    expect(fake.uploads).toHaveLength(0);
    // perUser 1: the refused upload gave its slot back.
    expect((await upload([{ name: 'title', value: 'After' }])).status).toBe(202);
  });

  it('refuses an endless field once the form passes 96 KiB on the wire, though the field never ends', async () => {
    const head = (b: string) => Buffer.concat([partHead({ name: 'title', value: '' }, b), Buffer.from('ok\r\n'), partHead({ name: 'tags', value: '' }, b), Buffer.alloc(200 * 1024, 'x')]);
    const res = await sendAndStall(url, ctx.alice, head);
    expect(res.status).toBe(422);
    expect(res.at).toBeLessThan(900);
    expect(res.headers.connection).toBe('close');
    expect(res.body?.error.details).toEqual({ form: 'more than 96 KiB before the file part' });
    await res.closed;
    expect(fake.uploads).toHaveLength(0);
  });

  it('refuses a bad field as soon as it arrives (422 naming it, connection closed), not after the rest of the form', async () => {
    const repeat = (n: number, part: Part) => Array.from({ length: n }, () => part);
    // [the fields up to the bad one, after which the client stalls; what it would send next; the refusal]
    const cases: [Part[], Part[], Record<string, string>][] = [
      // The review's request: 100 tags fields of 60 KiB each; the first one is refused.
      [[{ name: 'title', value: 'ok' }, { name: 'tags', value: 'x'.repeat(60 * 1024) }], repeat(99, { name: 'tags', value: 'x'.repeat(60 * 1024) }), { tags: 'too long: a field holds at most 8 KiB (repeat the field for more)' }],
      [[{ name: 'title', value: 'x'.repeat(9 * 1024) }], [], { title: 'too long: a field holds at most 8 KiB' }],
      [[{ name: 'tags', value: 'ok,' + 'x'.repeat(101) }], [], { 'tags.1': 'must be at most 100 characters' }],
      [[{ name: 'tags', value: 'a' }, { name: 'tags', value: '["b", "c\\u0000"]' }], [], { 'tags.2': 'must not contain control characters' }],
      [[{ name: 'shared_with_roles', value: 'ANALYST' }, { name: 'shared_with_roles', value: 'analyst' }], [], { 'shared_with_roles.1': 'an upper-case role name such as ANALYST' }],
      [Array.from({ length: 51 }, (_, i) => ({ name: 'tags', value: `t${i}` })), [], { tags: 'at most 50 tags' }],
      [[{ name: 'title', value: 'a' }, { name: 'title', value: 'b' }], [], { title: 'given more than once' }],
      // Each field valid (the whitespace trims away), together past 32 KiB: refused at the field that passes it.
      [repeat(5, { name: 'tags', value: 'a' + ' '.repeat(7 * 1024) }), [], { tags: 'the text fields hold more than 32 KiB in all' }],
      [repeat(103, { name: 'tags', value: '' }), [], { form: 'at most 102 fields' }],
    ];
    for (const [sent, next, details] of cases) {
      const hold = gate(10_000);
      let stalled = false;
      const started = performance.now();
      // Only an answer to the fields sent so far ends the stall before 10 s.
      const res = await upload([...sent, ...next, { name: 'is_public', value: 'true' }], {
        beforeField: (i) => {
          if (i !== sent.length) return;
          stalled = true;
          return hold.opened;
        },
      });
      hold.open();
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body?.error.details, JSON.stringify(details)).toEqual(details);
      expect(stalled).toBe(true);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(res.headers.connection).toBe('close');
      await res.closed;
    }
    expect(fake.uploads).toHaveLength(0);
    expect((await upload([{ name: 'title', value: 'Fine' }, { name: 'tags', value: Array.from({ length: 50 }, (_, i) => `tag-${i}-${'t'.repeat(90)}`).join(',') }])).status).toBe(202);
  });
});
