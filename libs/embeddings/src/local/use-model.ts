/**
 * Universal Sentence Encoder Lite on TensorFlow.js 4.22's WASM backend (CPU,
 * SIMD, one thread), loaded from the files of the weights package. Runs inside
 * a worker thread (worker.ts); never on a service's event loop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { LOCAL_DIMENSIONS, LOCAL_HARD_TOKEN_LIMIT } from './model-files.ts';
import { Tokenizer, type Vocabulary } from './tokenizer.ts';

/** Inputs are cut to this many characters before tokenizing (a 512-token input is far shorter). */
const CHAR_LIMIT = 16_384;

export interface UseModel {
  /** Row-major `texts.length × 512` unit vectors. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  dispose(): void;
}

/** An IOHandler that reads model.json and its weight shards from `dir`. */
function fileHandler(dir: string, modelJson: tf.io.ModelJSON): tf.io.IOHandler {
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const shards: Buffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) shards.push(await readFile(join(dir, path)));
        }
        const all = Buffer.concat(shards);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      }),
  };
}

export async function loadUseModel(dir: string): Promise<UseModel> {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  await tf.ready();
  const [modelJson, vocabulary] = await Promise.all([
    readFile(join(dir, 'model.json'), 'utf8').then((text) => JSON.parse(text) as tf.io.ModelJSON),
    readFile(join(dir, 'vocab.json'), 'utf8').then((text) => JSON.parse(text) as Vocabulary),
  ]);
  const model: GraphModel = await loadGraphModel(fileHandler(dir, modelJson));
  const tokenizer = new Tokenizer(vocabulary);
  const space = tokenizer.encode(' ');

  return {
    async embed(texts) {
      if (texts.length === 0) return new Float32Array(0);
      const positions: number[] = [];
      const ids: number[] = [];
      texts.forEach((text, row) => {
        let tokens = tokenizer.encode(text.slice(0, CHAR_LIMIT), LOCAL_HARD_TOKEN_LIMIT);
        // A row without tokens would vanish from the sparse input and shift every later row.
        if (tokens.length === 0) tokens = space;
        tokens.forEach((id, column) => {
          positions.push(row, column);
          ids.push(id);
        });
      });
      const indices = tf.tensor2d(positions, [ids.length, 2], 'int32');
      const values = tf.tensor1d(ids, 'int32');
      let output: tf.Tensor | undefined;
      try {
        output = (await model.executeAsync({ indices, values })) as tf.Tensor;
        if (output.shape[0] !== texts.length || output.shape[1] !== LOCAL_DIMENSIONS) {
          throw new Error(`model answered shape [${output.shape.join(', ')}] for ${texts.length} inputs`);
        }
        const data = new Float32Array(await output.data<'float32'>());
        for (let row = 0; row < texts.length; row++) {
          const start = row * LOCAL_DIMENSIONS;
          let sum = 0;
          for (let i = start; i < start + LOCAL_DIMENSIONS; i++) sum += data[i]! * data[i]!;
          const norm = Math.sqrt(sum) || 1;
          for (let i = start; i < start + LOCAL_DIMENSIONS; i++) data[i] = data[i]! / norm;
        }
        return data;
      } finally {
        indices.dispose();
        values.dispose();
        output?.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}
