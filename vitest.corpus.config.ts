// `npm run test:corpus`: the corpus suites (`*.corpus.ts` under any libs/*/test/ or
// apps/*/test/) against the reference corpora in CSDA_CORPUS_DIR (default
// ../shared/corpus beside the repository; DESIGN.md "Reference corpora").
// Per-package vitest configs include `*.test.ts` only, so these never run in `npm test`.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const corpusDir = resolve(process.env.CSDA_CORPUS_DIR ?? resolve(import.meta.dirname, '../shared/corpus'));

export default defineConfig({
  test: {
    include: ['libs/*/test/**/*.corpus.ts', 'apps/*/test/**/*.corpus.ts'],
    env: { CSDA_CORPUS_DIR: corpusDir },
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // corpus suites print their figures
    silent: false,
  },
});
