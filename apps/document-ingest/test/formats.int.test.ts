// Every format goes upload → parse → chunk → embed → index → ready on the
// real stack (PostgreSQL, NATS, a search replica), and search finds it for its
// owner only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csv, docx, html, markdown, text, textPdf } from '@csda/testing/documents';
import { startHarness, upload, user, waitStatus, type Harness, type Ingest } from './support/harness.ts';

let h: Harness;
let ingest: Ingest;
const alice = user('alice');
const bob = user('bob');

beforeAll(async () => {
  h = await startHarness('ingest_formats');
  await h.startSearch();
  ingest = await h.start();
}, 120_000);
afterAll(() => h?.close());

describe('each format, upload to ready', () => {
  const cases: [string, string, () => Promise<Uint8Array> | Uint8Array, string][] = [
    ['pdf', 'biology.pdf', () => textPdf(3, 'chloroplast'), 'chloroplast'],
    ['docx', 'cells.docx', () => docx('mitochondria'), 'mitochondria'],
    ['html', 'geology.html', () => html('stratovolcano'), 'stratovolcano'],
    ['md', 'ice.md', () => markdown('glacier'), 'glacier'],
    ['txt', 'sea.txt', () => text('tides'), 'tides'],
    ['csv', 'sky.csv', () => csv('comet'), 'comet'],
  ];
  for (const [format, filename, make, word] of cases) {
    it(`${format}: becomes ready with stage timings, and search finds it for its owner only`, async () => {
      const content = await make();
      const { document, duplicate } = await upload(ingest, await h.as(alice), { filename, tags: ['science'] }, content);
      expect(duplicate).toBe(false);
      expect(document).toMatchObject({ ownerId: alice.id, filename, format, title: filename.replace(/\.[a-z]+$/, ''), tags: ['science'], isPublic: false });
      expect(document.sizeBytes).toBe(BigInt(content.length));
      expect(document.status?.status).toMatch(/^(queued|parsing|chunking|embedding|indexing)$/);
      const ready = await waitStatus(ingest, await h.as(alice), document.id, 'ready');
      const s = ready.status!;
      expect(s).toMatchObject({ version: 1, indexedVersion: 1, stage: 'index', error: '', model: 'openai:test-hash@64' });
      expect(s.chunksTotal).toBeGreaterThan(0);
      expect(s.chunksEmbedded).toBe(s.chunksTotal);
      expect(Object.keys(s.stageMs).sort()).toEqual(['chunk', 'embed', 'index', 'parse']);
      if (format === 'pdf') expect(s).toMatchObject({ pagesTotal: 3, pagesParsed: 3 });
      // What the pipeline kept for resuming is gone once search has it.
      expect(await h.sql('select 1 from ingest.chunks where document_id = $1 union all select 1 from ingest.parsed_parts where document_id = $1', [document.id])).toEqual([]);

      const hits = await h.search(alice, word);
      expect(hits.map((x) => x.documentId)).toContain(document.id);
      expect(hits.find((x) => x.documentId === document.id)!.content.toLowerCase()).toContain(word);
      expect((await h.search(bob, word)).map((x) => x.documentId)).not.toContain(document.id);
    });
  }

  it('strips scripts, styles and navigation from HTML before indexing', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'page.html' }, html('caldera'));
    await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    const stored = await h.sql<{ content: string }>('select content from search.chunks where document_id = $1', [document.id]);
    const all = stored.map((c) => c.content).join('\n');
    expect(all).toContain('caldera');
    expect(all).not.toContain('never indexed');
    expect(all).not.toContain('Home | About');
  });

  it('keeps page numbers of PDF chunks in search', async () => {
    const { document } = await upload(ingest, await h.as(alice), { filename: 'pages.pdf' }, await textPdf(4, 'stomata'));
    await waitStatus(ingest, await h.as(alice), document.id, 'ready');
    const pages = await h.sql<{ page_start: number; page_end: number }>('select page_start, page_end from search.chunks where document_id = $1 order by chunk_index', [document.id]);
    expect(pages.length).toBeGreaterThan(0);
    expect(pages[0]!.page_start).toBe(1);
    expect(Math.max(...pages.map((p) => p.page_end))).toBe(4);
  });
});
