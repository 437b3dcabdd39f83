// `npm run bench -- <name>`: prints figures for one benchmark.
import { benchCache } from './cache.ts';
import { benchEmbeddings } from './embeddings.ts';
import { benchIngest } from './ingest.ts';
import { benchRotation } from './rotation.ts';
import { benchSearch } from './search.ts';
import { benchSearchQuality } from './search-quality.ts';
import { benchTools } from './tools.ts';
import { benchVault } from './vault.ts';

const benches: Record<string, () => Promise<void>> = { cache: benchCache, embeddings: benchEmbeddings, ingest: benchIngest, rotation: benchRotation, search: benchSearch, 'search-quality': benchSearchQuality, tools: benchTools, vault: benchVault };
const name = process.argv[2];
const bench = name ? benches[name] : undefined;
if (!bench) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}>\n`);
  process.exit(64);
}
await bench();
