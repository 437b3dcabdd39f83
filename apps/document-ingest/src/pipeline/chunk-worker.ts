// A long-lived worker for chunkDocument (see chunk-pool.ts): loading the
// tokenizer takes about a second, so one worker serves many documents.
import { parentPort } from 'node:worker_threads';
import { chunkDocument, type ChunkOptions, type ParsedDocument } from '@csda/documents';

parentPort!.on('message', ({ id, doc, options }: { id: number; doc: ParsedDocument; options: ChunkOptions }) => {
  try {
    parentPort!.postMessage({ id, ok: true, chunks: chunkDocument(doc, options) });
  } catch (err) {
    parentPort!.postMessage({ id, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
