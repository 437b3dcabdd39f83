// The search benchmark's data: clustered synthetic vectors, chunk texts made
// of real sentences, and documents whose access gives three callers 100 %,
// 10 % and 1 % of the index.
//
// Vectors: CLUSTERS centroids, each a random direction (i.i.d. Gaussian
// coordinates, normalised); a chunk picks a centroid uniformly and is
// normalise(centroid + NOISE · g / √d) with g i.i.d. N(0, 1), so it lies at
// cosine ≈ 1 / √(1 + NOISE²) ≈ 0.71 from its centroid and ≈ 0.5 from its
// cluster mates — neighbourhoods an ANN index must actually resolve, unlike
// uniform random vectors, where every point is about equally far. Queries
// are drawn the same way. All of it from a seeded PRNG: the same every run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { irDir } from './ir-corpus.ts';

export const CLUSTERS = 100;
export const NOISE = 1;
/** Chunks per document. */
export const CHUNKS_PER_DOC = 100;

function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  let spare: number | undefined;
  const gaussian = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { next, gaussian, int: (n: number) => Math.floor(next() * n) };
}

const normalise = (v: Float32Array) => {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
};

/** The clusters of `dims` (see the file comment); `stream(seed)` draws vectors around them, one stream for the data, one for the queries. */
export function clusteredSpace(dims: number, seed: number) {
  const r = prng(seed);
  const centroids = Array.from({ length: CLUSTERS }, () => normalise(Float32Array.from({ length: dims }, () => r.gaussian())));
  const scale = NOISE / Math.sqrt(dims);
  return {
    stream(streamSeed: number) {
      const s = prng(streamSeed);
      return () => {
        const c = centroids[s.int(CLUSTERS)]!;
        return normalise(Float32Array.from(c, (x) => x + scale * s.gaussian()));
      };
    },
  };
}

/** Sentences of the SciFact abstracts when the collection is there, else a fixed set. */
export function sentencePool(): string[] {
  try {
    const lines = readFileSync(join(irDir(), 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 2_000);
    return lines.flatMap((l) => (JSON.parse(l) as { text: string }).text.split(/(?<=\.)\s+/)).filter((s) => s.length > 30);
  } catch {
    return [
      'The enzyme activity increased twofold after treatment with the inhibitor.',
      'Patients in the control group reported fewer adverse events over twelve weeks.',
      'We sequenced the genomes of forty bacterial isolates from hospital wards.',
      'Higher vitamin D levels were associated with a lower risk of fractures.',
      'Insulin resistance was measured by the homeostasis model assessment.',
      'Tumour growth slowed in mice lacking the receptor.',
    ];
  }
}

/** Text of chunk `i`: three sentences of the pool, chosen by a seeded draw. */
export function chunkTexts(seed: number) {
  const pool = sentencePool();
  const r = prng(seed);
  return () => `${pool[r.int(pool.length)]} ${pool[r.int(pool.length)]} ${pool[r.int(pool.length)]}`;
}

/** Query words: a few words of a pool sentence (a keyword query like a user's). */
export function queryTexts(seed: number) {
  const pool = sentencePool();
  const r = prng(seed);
  return () => {
    const words = pool[r.int(pool.length)]!.replace(/[^\p{L}\p{N}\s-]/gu, ' ').split(/\s+/).filter((w) => w.length > 3);
    const start = r.int(Math.max(1, words.length - 5));
    return words.slice(start, start + 3 + r.int(4)).join(' ');
  };
}

export type Share = '100%' | '10%' | '1%';

/**
 * Access of document `d`: every document is shared with ADMIN (the admin
 * sees 100 %); one in ten is owned by `tenOwner` (10 %, the public ones
 * included); one in a hundred is public (what a user owning nothing sees).
 */
export function accessOf(d: number, ids: { tenOwner: string; nobody: string }) {
  return {
    ownerId: d % 10 === 0 ? ids.tenOwner : ids.nobody,
    isPublic: d % 100 === 0,
    sharedRoles: ['ADMIN'],
    tags: [`group-${d % 7}`],
    title: `Synthetic document ${d}`,
  };
}
