// Runs chunkDocument for one version off the service's main thread (see chunk-in-worker.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { chunkDocument, type ChunkOptions, type ParsedDocument } from '@csda/documents';

const { doc, options } = workerData as { doc: ParsedDocument; options: ChunkOptions };
try {
  parentPort!.postMessage({ ok: true, chunks: chunkDocument(doc, options) });
} catch (err) {
  parentPort!.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
}
