// kill -9 of document-ingest mid-pipeline: the stage's job comes back to
// another replica after the ack wait, which resumes from the last committed
// step — embedded chunks are not embedded again, a version handed to search
// is not handed over twice, and a confirmation sent while no replica ran
// still makes the document ready.
import { once } from 'node:events';
import { splitPassages } from '@csda/embeddings';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longText, text } from '@csda/testing/documents';
import { startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';
import { waitFor } from '@csda/testing';

let h: Harness;
let search: Awaited<ReturnType<Harness['startSearch']>>;
const alice = user('alice');
const settings = { DOCUMENT_EMBED_CHUNKS: '2', DOCUMENT_ACK_WAIT_S: '4' };

beforeAll(async () => {
  h = await startHarness('ingest_resume', settings);
}, 120_000);
afterAll(() => h?.close());

async function kill(replica: Ingest): Promise<void> {
  const exited = once(replica.process, 'exit');
  replica.process.kill('SIGKILL');
  await exited;
}

const status = async (id: string) => (await h.sql<{ status: string; chunks_embedded: number; published: boolean }>('select status, chunks_embedded, published_at is not null as published from ingest.versions where document_id = $1', [id]))[0];

describe('kill -9', () => {
  it('during embed: another replica resumes after the last committed round and embeds no chunk twice', async () => {
    search = await h.startSearch();
    const a = await h.start();
    h.embeddings.delayMs = 400;
    const { document } = await upload(a, await h.as(alice), { filename: 'long.txt' }, longText(20, 'sediment'));
    await waitFor(async () => ((await status(document.id))?.chunks_embedded ?? 0) >= 4, { timeoutMs: 60_000, what: 'a few rounds embedded' });
    await kill(a);
    const done = await h.sql<{ content: string }>('select content from ingest.chunks where document_id = $1 and vectors is not null', [document.id]);
    const total = (await h.sql<{ n: number }>('select count(*)::int as n from ingest.chunks where document_id = $1', [document.id]))[0]!.n;
    expect(done.length).toBeGreaterThanOrEqual(4);
    expect(done.length).toBeLessThan(total);

    h.embeddings.delayMs = 0;
    const b = await h.start();
    const ready = await waitStatus(b, await h.as(alice), document.id, 'ready', 90_000);
    expect(ready.status).toMatchObject({ chunksTotal: total, chunksEmbedded: total, version: 1, indexedVersion: 1 });
    // Every passage of a chunk committed before the kill was sent to the model exactly once.
    const counts = new Map<string, number>();
    for (const input of h.embeddings.inputs) counts.set(input, (counts.get(input) ?? 0) + 1);
    for (const chunk of done) {
      for (const p of splitPassages(chunk.content)) expect(counts.get(p.text.trim()), p.text).toBe(1);
    }
    const indexed = await h.sql<{ n: number }>('select count(*)::int as n from search.chunks where document_id = $1 and live', [document.id]);
    expect(indexed[0]!.n).toBe(total);
    await b.stop();
  });

  it('while waiting for search: the batches were published once, and the confirmation is taken by the next replica', async () => {
    await search.stop();
    const a = await h.start();
    // No search replica runs now: the version waits in indexing.
    const { document } = await upload(a, await h.as(alice), { filename: 'wait.txt' }, text('handover'));
    // Handed over = the batch's outbox row was relayed to NATS (not only written).
    const relayed = async () => (await h.sql(`select 1 from ingest.outbox where subject like '%csda.jobs.search.index' and aggregate = $1 and sent_at is not null`, [`document:${document.id}`])).length === 1;
    await waitFor(async () => (await status(document.id))?.published === true && (await relayed()), { timeoutMs: 30_000, what: 'published and relayed' });
    await kill(a);
    const batches = await h.sql<{ event_id: string }>(`select event_id from ingest.outbox where subject like '%csda.jobs.search.index' and aggregate = $1`, [`document:${document.id}`]);
    expect(batches.map((b) => b.event_id)).toEqual([`index:${document.id}:1:0`]);
    // search confirms while no document-ingest runs; the durable keeps it for the next replica.
    search = await h.startSearch();
    await waitFor(async () => (await h.sql('select 1 from search.documents where document_id = $1 and live_version = 1', [document.id])).length === 1, { timeoutMs: 30_000, what: 'indexed by search' });
    expect((await status(document.id))?.status).toBe('indexing');
    const b = await h.start();
    const ready = await waitStatus(b, await h.as(alice), document.id, 'ready', 60_000);
    expect(ready.status?.indexedVersion).toBe(1);
    const again = await h.sql(`select event_id from ingest.outbox where subject like '%csda.jobs.search.index' and aggregate = $1`, [`document:${document.id}`]);
    expect(again).toHaveLength(1);
  });
});
