import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MiB, fakeDocumentIngest, startDocumentsApp } from './support/fake-document-ingest.ts';
import { streamUpload } from './support/multipart.ts';

const until = async (what: string, check: () => boolean, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Uploads over real HTTP/1.1 (the gateway listening on 127.0.0.1) into the fake over real HTTP/2. */
describe('document upload streaming', () => {
  const fake = fakeDocumentIngest();
  let ctx: Awaited<ReturnType<typeof startDocumentsApp>>;
  let url: string;

  beforeAll(async () => {
    ctx = await startDocumentsApp(fake, { maxBytes: 48 * MiB, timeoutMs: 60_000, perUser: 2 });
    url = `${await ctx.app.listen({ host: '127.0.0.1', port: 0 })}/api/v1/documents`;
  });
  afterAll(async () => ctx?.close());
  afterEach(() => fake.reset());

  const upload = (fileBytes: number, options: Partial<Parameters<typeof streamUpload>[0]> = {}) =>
    streamUpload({ url, token: ctx.alice, fields: [{ name: 'title', value: 'Big' }], filename: 'big.txt', fileBytes, ...options });

  /**
   * An upload the gateway answers while the client is still sending: the gateway closes a connection whose body it
   * did not read, the kernel then resets it, and a client mid-write can get EPIPE / ECONNRESET before it has read
   * the answer (seen once in a loaded CI run). Such a try is let settle, forgotten, and made again (at most 3).
   */
  const answeredEarly = async (fileBytes: number, options: Partial<Parameters<typeof streamUpload>[0]> = {}) => {
    const { maxBytes } = fake.state;
    for (let attempt = 1; ; attempt++) {
      try {
        return await upload(fileBytes, options);
      } catch (err) {
        if (attempt >= 3 || !['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        await fake.settled(1);
        fake.reset();
        fake.state.maxBytes = maxBytes;
      }
    }
  };

  it('streams 40 MiB through without holding it: document-ingest has most of it while the client is still sending', async () => {
    let atHalf = 0;
    const res = await upload(40 * MiB, {
      beforePiece: async (sent) => {
        if (sent !== 20 * MiB) return;
        // The client pauses half way: the bytes it sent must reach the service without the rest of the body.
        await until('the first 16 MiB at document-ingest', () => (fake.uploads[0]?.bytes ?? 0) >= 16 * MiB);
        atHalf = fake.uploads[0]!.bytes;
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(atHalf).toBeGreaterThanOrEqual(16 * MiB);
    expect(atHalf).toBeLessThanOrEqual(20 * MiB);
    const [seen] = fake.uploads;
    expect(seen).toMatchObject({ outcome: 'stored', bytes: 40 * MiB });
    expect(seen!.chunks).toBeGreaterThan(40);
    expect(res.body).toMatchObject({ size_bytes: 40 * MiB, sha256: createHash('sha256').update(Buffer.alloc(40 * MiB, 'a')).digest('hex'), title: 'Big' });
  });

  it('passes backpressure on: while document-ingest stops reading, the client cannot send more than a few MiB ahead', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.state.onChunk = (u) => (u.bytes >= 2 * MiB ? gate : undefined);
    let sent = 0;
    const done = upload(40 * MiB, { beforePiece: (s) => void (sent = s) });
    await until('the service to stop reading', () => (fake.uploads[0]?.bytes ?? 0) >= 2 * MiB);
    let last = -1;
    // Wait until the client is stuck: no progress for 300 ms.
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      if (sent === last) break;
      last = sent;
    }
    const received = fake.uploads[0]!.bytes;
    expect(received).toBeLessThan(3 * MiB);
    expect(sent - received).toBeLessThan(8 * MiB);
    release();
    const res = await done;
    expect(res.status).toBe(202);
    expect(fake.uploads[0]).toMatchObject({ outcome: 'stored', bytes: 40 * MiB });
  });

  it('answers 413 while the file streams once it passes DOCUMENT_MAX_BYTES, closes the connection and calls the upload off', async () => {
    const res = await answeredEarly(200 * MiB, { pieceBytes: MiB });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.body?.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: 'The document is larger than the 48 MiB limit', details: { field: 'file', limit_bytes: String(48 * MiB) } });
    expect(res.finished).toBe(false);
    expect(res.sentWhenAnswered).toBeLessThan(60 * MiB);
    expect(await fake.settled(1)).toEqual(['cancelled']);
    expect(fake.uploads[0]!.bytes).toBeLessThanOrEqual(48 * MiB);
    expect(fake.state.docs.size).toBe(0);
  });

  it("answers document-ingest's own 413 (a smaller DOCUMENT_MAX_BYTES there) with the connection closed, nothing stored", async () => {
    fake.state.maxBytes = 4 * MiB;
    const res = await answeredEarly(30 * MiB);
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.body?.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { field: 'file' } });
    expect(res.finished).toBe(false);
    expect(fake.uploads[0]!.outcome).toBe('refused');
    expect(fake.state.docs.size).toBe(0);
  });

  it('calls the upload off when the client goes away mid-file, and frees its slot', async () => {
    const res = await upload(30 * MiB, { abortAfter: 4 * MiB });
    expect(res.status).toBe(0);
    expect(await fake.settled(1)).toEqual(['cancelled']);
    expect(fake.state.docs.size).toBe(0);
    const next = await upload(MiB);
    expect(next.status).toBe(202);
  });

  it('calls off an upload not received within DOCUMENT_TRANSFER_TIMEOUT_S (422 naming the limit), nothing stored', async () => {
    const slow = await startDocumentsApp(fake, { maxBytes: 48 * MiB, timeoutMs: 1_000, perUser: 2 });
    try {
      const slowUrl = `${await slow.app.listen({ host: '127.0.0.1', port: 0 })}/api/v1/documents`;
      const res = await streamUpload({ url: slowUrl, token: slow.alice, fields: [], filename: 'slow.txt', fileBytes: 4 * MiB, beforePiece: (sent) => (sent === MiB ? new Promise((r) => setTimeout(r, 2_000)) : undefined) });
      expect(res.status).toBe(422);
      expect(res.headers.connection).toBe('close');
      expect(res.body?.error.details).toEqual({ file: 'not received within 1 s (DOCUMENT_TRANSFER_TIMEOUT_S)' });
      expect(await fake.settled(1)).toEqual(['cancelled']);
      expect(fake.state.docs.size).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('limits uploads in flight per user (DOCUMENT_UPLOADS_PER_USER): 429 with retry-after for the third, others unaffected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.state.onChunk = () => gate;
    const slow = [upload(4 * MiB), upload(5 * MiB)];
    await until('two uploads streaming', () => fake.uploads.length === 2);
    const third = await upload(MiB);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('5');
    expect(third.body?.error).toMatchObject({ code: 'RATE_LIMITED', message: 'You have 2 uploads in flight; wait for one to finish', details: { limit: '2', setting: 'DOCUMENT_UPLOADS_PER_USER' } });
    const bob = streamUpload({ url, token: ctx.bob, fields: [], filename: 'bob.txt', fileBytes: MiB });
    await until('bob streaming', () => fake.uploads.length === 3);
    release();
    expect((await Promise.all([...slow, bob])).map((r) => r.status)).toEqual([202, 202, 202]);
    expect((await upload(2 * MiB)).status).toBe(202);
  });
});
