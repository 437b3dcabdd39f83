import type { ParsedDocument } from '@csda/documents';
import { describe, expect, it } from 'vitest';
import { createChunkPool } from './chunk-pool.ts';
import { DocumentFailure } from './failures.ts';

const DOC = '0b6f7c1e-6a8e-4a53-9a57-6c8a3b0f1d20';
const doc = (text: string): ParsedDocument => ({ format: 'txt', blocks: [{ type: 'paragraph', text }], warnings: [] });
const never = new AbortController().signal;

describe('chunk pool', () => {
  it('chunks off the main thread, reusing its worker', async () => {
    // The limit counts a fresh worker's tokenizer load too: generous, so a loaded machine does not trip it.
    const pool = createChunkPool({ size: 1, memoryMb: 256, timeoutMs: 8_000 });
    try {
      const first = await pool.chunk(doc('Tides rise twice a day. The moon pulls the sea.'), { documentId: DOC, version: 1 }, never);
      expect(first.map((c) => c.text)).toEqual(['Tides rise twice a day. The moon pulls the sea.']);
      const started = performance.now();
      const again = await pool.chunk(doc('Second document.'), { documentId: DOC, version: 2 }, never);
      expect(again).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(1_000); // the tokenizer stayed loaded
    } finally {
      await pool.close();
    }
  });

  it('stops a run that passes the time limit, the main thread running meanwhile, and replaces the worker', async () => {
    // Chunking is linear now (~0.5-0.75 s per MiB here, libs/documents): 32 MiB without a space takes ~17 s, over 3× the limit.
    const pool = createChunkPool({ size: 1, memoryMb: 512, timeoutMs: 5_000 });
    try {
      let ticks = 0;
      const ticker = setInterval(() => (ticks += 1), 50);
      const slow = pool.chunk(doc('b'.repeat(32 * 1024 * 1024)), { documentId: DOC, version: 3 }, never);
      await expect(slow).rejects.toEqual(new DocumentFailure('chunking took longer than 5 s'));
      clearInterval(ticker);
      expect(ticks).toBeGreaterThan(10);
      // A fresh worker replaced the stopped one.
      expect(await pool.chunk(doc('After the timeout.'), { documentId: DOC, version: 4 }, never)).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });

  it('queues work beyond its size and gives up a waiting run when aborted', async () => {
    const pool = createChunkPool({ size: 1, memoryMb: 256, timeoutMs: 5_000 });
    try {
      await pool.warm();
      const runs = await Promise.all([1, 2, 3].map((v) => pool.chunk(doc(`Document ${v}.`), { documentId: DOC, version: v }, never)));
      expect(runs.map((r) => r[0]!.text)).toEqual(['Document 1.', 'Document 2.', 'Document 3.']);
      const abort = new AbortController();
      // ~4 s of chunking: still running when aborted.
      const running = pool.chunk(doc('b'.repeat(8 * 1024 * 1024)), { documentId: DOC, version: 5 }, abort.signal);
      setTimeout(() => abort.abort(new Error('stopping')), 200);
      await expect(running).rejects.toThrow('stopping');
    } finally {
      await pool.close();
    }
  });
});
