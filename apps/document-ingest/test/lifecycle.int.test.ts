// The process: it exits cleanly on SIGTERM even while its workers are still
// starting, a stage interrupted by the stop comes back (the document does not
// fail), and bad settings stop it at start naming the variable.
import { runCommand } from '@csda/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { longText } from '@csda/testing/documents';
import { startHarness, upload, user, waitStatus, type Harness } from './support/harness.ts';

let h: Harness;
const alice = user('alice');

beforeAll(async () => {
  h = await startHarness('ingest_lifecycle', { DOCUMENT_EMBED_CHUNKS: '1' });
}, 120_000);
afterAll(() => h?.close());

it('exits 0 on SIGTERM right after start, while its parse and chunk workers warm up', async () => {
  const a = await h.start();
  const started = Date.now();
  expect(await a.stop()).toBe(0);
  expect(Date.now() - started).toBeLessThan(5_000);
});

it('a stage stopped by SIGTERM is taken up again by the next replica; the document does not fail', async () => {
  await h.startSearch();
  const a = await h.start();
  h.embeddings.delayMs = 300;
  const { document } = await upload(a, await h.as(alice), { filename: 'stop.txt' }, longText(6, 'interrupted'));
  await waitStatus(a, await h.as(alice), document.id, 'embedding');
  expect(await a.stop()).toBe(0);
  const [v] = await h.sql<{ status: string; error: string | null }>('select status, error from ingest.versions where document_id = $1', [document.id]);
  expect(v).toEqual({ status: 'embedding', error: null });
  h.embeddings.delayMs = 0;
  const b = await h.start();
  await waitStatus(b, await h.as(alice), document.id, 'ready', 60_000);
});

it('refuses bad settings with exit code 78 naming the variable', async () => {
  for (const [name, bad] of [
    ['DOCUMENT_MAX_BYTES', '0'],
    ['BLOB_STORE', 'ftp'],
    ['DOCUMENT_CONCURRENCY', 'lots'],
    ['S3_BUCKET', 'UPPER'],
  ] as const) {
    const r = await runCommand('document-ingest', 'serve', { ...h.env, [name]: bad }, 30_000);
    expect(r.code, `${name}=${bad}`).toBe(78);
    expect(`${r.stdout}${r.stderr}`).toContain(name);
  }
});
