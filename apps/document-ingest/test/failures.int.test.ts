// Documents that fail stay listed with a readable reason and the stage that
// failed; reindex runs them again as a new version. Transient failures (the
// embedding model down) are retried with the last error shown meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptedPdf, text, textPdf } from '@csda/testing/documents';
import { startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';

let h: Harness;
let ingest: Ingest;
const alice = user('alice');

beforeAll(async () => {
  h = await startHarness('ingest_failures', { DOCUMENT_PARSE_TIMEOUT_S: '5', DOCUMENT_MAX_ATTEMPTS: '3' });
  await h.startSearch();
  ingest = await h.start();
}, 120_000);
afterAll(() => h?.close());

describe('a file that cannot become text', () => {
  it('an encrypted PDF fails at parse with the reason, stays listed, and a reindex fails it again as version 2', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'secret.pdf', tags: ['locked'] }, await encryptedPdf());
    const failed = await waitStatus(ingest, await h.as(alice), document.id, 'failed');
    expect(failed.status).toMatchObject({ status: 'failed', stage: 'parse', failedStage: 'parse', error: 'PDF is encrypted with a user password', version: 1, attempts: 1, indexedVersion: 0 });
    const listed = await ingest.client.listDocuments({ status: 'failed', tags: ['locked'] }, await h.as(alice));
    expect(listed.items.map((d) => [d.id, d.status?.error])).toEqual([[document.id, 'PDF is encrypted with a user password']]);
    const status = await ingest.client.getDocumentStatus({ id: document.id }, await h.as(alice));
    expect(status.status?.error).toBe('PDF is encrypted with a user password');

    const again = await ingest.client.reindexDocument({ id: document.id }, await h.as(alice));
    expect(again.document?.status).toMatchObject({ version: 2, status: 'queued', error: '' });
    const failedAgain = await waitStatus(ingest, await h.as(alice), document.id, 'failed');
    expect(failedAgain.status).toMatchObject({ version: 2, error: 'PDF is encrypted with a user password' });
    const audits = await h.sql<{ subject: string }>(`select subject from ingest.outbox where aggregate = $1 and subject like '%.audit.%' order by id`, [`document:${document.id}`]);
    expect(audits.map((a) => a.subject.split('.').at(-1))).toEqual(['document_uploaded', 'document_reindexed']);
  });

  it('a text without anything to index fails with the parser\'s reason', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'blank.txt' }, new TextEncoder().encode(' \n\n \t \n'));
    const failed = await waitStatus(ingest, await h.as(alice), document.id, 'failed');
    expect(failed.status).toMatchObject({ failedStage: 'parse', error: 'the text file has no text' });
  });

  it('a huge run without spaces is stopped by the chunking time limit; the service keeps answering meanwhile', async () => {
    // Chunking is linear (libs/documents): 32 MiB of one letter takes ~17 s here, over 3× the 5 s limit.
    // Saving 32 MiB of parsed text before chunking stalls the service for seconds (client-side escaping of the JSON
    // parameter and the GC it causes, not the chunker) — past the clients' 10 s default deadline on a slow machine —
    // so the calls up to the chunking stage get a minute; what is asserted is the answer time while the worker grinds.
    const patient = { ...(await h.as(alice)), timeoutMs: 60_000 };
    const { document } = await upload(ingest, patient, { filename: 'run.txt' }, new Uint8Array(32 * 1024 * 1024).fill(0x62));
    await waitStatus(ingest, patient, document.id, 'chunking');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const started = Date.now();
    await ingest.client.getDocument({ id: document.id }, await h.as(alice));
    expect(Date.now() - started).toBeLessThan(1_000);
    const failed = await waitStatus(ingest, await h.as(alice), document.id, 'failed');
    expect(failed.status).toMatchObject({ failedStage: 'chunk', error: 'chunking took longer than 5 s' });
    // Its own calls may each take a minute (above), so the test gets more than the suite's 60 s default.
  }, 180_000);
});

describe('a model that is down', () => {
  it('retries the embed stage with the error shown, then goes on once the model answers', async () => {
    h.embeddings.fail = 503;
    const { document } = await upload(ingest, await h.as(alice), { filename: 'retry.txt' }, text('retried'));
    const retrying = await waitStatus(ingest, await h.as(alice), document.id, 'embedding');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const meanwhile = (await ingest.client.getDocument({ id: document.id }, await h.as(alice))).document!;
    expect(meanwhile.status?.status).toBe('embedding');
    expect(meanwhile.status?.error).toMatch(/^embedding model unavailable: /);
    expect(retrying.status?.chunksTotal).toBeGreaterThan(0);
    h.embeddings.fail = undefined;
    const ready = await waitStatus(ingest, await h.as(alice), document.id, 'ready', 60_000);
    expect(ready.status).toMatchObject({ error: '', chunksEmbedded: ready.status!.chunksTotal });
    expect(ready.status!.attempts).toBeGreaterThanOrEqual(1);
  });

  it('fails the document after DOCUMENT_MAX_ATTEMPTS deliveries and dead-letters the job; reindex then succeeds', async () => {
    h.embeddings.fail = 500;
    const { document } = await upload(ingest, await h.as(alice), { filename: 'dead.txt' }, text('dead letters'));
    const failed = await waitStatus(ingest, await h.as(alice), document.id, 'failed', 90_000);
    expect(failed.status).toMatchObject({ failedStage: 'embed', attempts: 3 });
    expect(failed.status?.error).toMatch(/^embedding model unavailable: .* \(gave up after 3 attempts\)$/);
    const dlq = await h.nats.jsm.streams.info(h.nats.subjects.stream('DEAD_LETTER'));
    expect(dlq.state.messages).toBeGreaterThanOrEqual(1);
    h.embeddings.fail = undefined;
    await ingest.client.reindexDocument({ id: document.id }, await h.as(alice));
    const ready = await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    expect(ready.status).toMatchObject({ version: 2, indexedVersion: 2 });
  });
});

describe('reindex', () => {
  it('makes a ready document a new version; search swaps to it and serves the new chunks only', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'v.pdf' }, await textPdf(2, 'xylophone'));
    await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    const before = await h.sql<{ id: string }>('select id from search.chunks where document_id = $1 and live', [document.id]);
    await ingest.client.reindexDocument({ id: document.id }, await h.as(alice));
    const ready = await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    expect(ready.status).toMatchObject({ version: 2, indexedVersion: 2 });
    const after = await h.sql<{ id: string; version: number }>('select id, version from search.chunks where document_id = $1', [document.id]);
    expect(after.every((c) => c.version === 2)).toBe(true);
    expect(after.map((c) => c.id).filter((id) => before.some((b) => b.id === id))).toEqual([]);
    expect((await h.search(alice, 'xylophone')).some((x) => x.documentId === document.id)).toBe(true);
  });
});
