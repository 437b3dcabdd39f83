// A seeded random corpus for the query tests: documents with random owners,
// public flags, shared roles and tags, chunks of words drawn from a small
// vocabulary (so keyword queries match varied sets), one to three passage
// vectors per chunk. Published through the index publisher; `visible()` is
// the access rule written out in plain code, to check results against.
import { randomUUID } from 'node:crypto';
import type { AccessInput, VersionInput } from '../support/publisher.ts';
import { unitVector } from '../support/harness.ts';

/** mulberry32: a small seeded PRNG, so a failing run can be replayed by its seed. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    subset: <T>(items: readonly T[], p: number): T[] => items.filter(() => next() < p),
  };
}

export const USERS = Array.from({ length: 5 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
/** A user who owns nothing: sees the public documents and whatever is shared with their roles. */
export const LONER = '00000000-0000-4000-8000-0000000000ff';
export const ROLES = ['R1', 'R2', 'R3'];
export const TAGS = ['t1', 't2', 't3'];
/** English words that stem to themselves or close, several per chunk. */
export const WORDS = [
  'protein', 'membrane', 'receptor', 'signal', 'pathway', 'enzyme', 'kinase', 'neuron', 'synapse', 'cortex',
  'tumor', 'vaccine', 'antibody', 'virus', 'bacteria', 'genome', 'mutation', 'insulin', 'glucose', 'lipid',
  'cardiac', 'vascular', 'hypoxia', 'oxygen', 'calcium', 'sodium', 'potassium', 'hormone', 'estrogen', 'cortisol',
  'placebo', 'cohort', 'trial', 'dose', 'mortality', 'risk', 'patient', 'therapy', 'surgery', 'diagnosis',
  'scurvy', 'vitamin', 'deficiency', 'sailor', 'citrus', 'zinc', 'iron', 'anemia', 'marrow', 'platelet',
];

export interface CorpusDoc {
  readonly documentId: string;
  readonly access: Required<Omit<AccessInput, 'accessSeq'>> & { accessSeq: number };
  readonly version: VersionInput;
}

export interface Viewer {
  readonly id: string;
  readonly roles: readonly string[];
}

/** The access rule, as plain code: public, owned, or shared with one of the viewer's roles. */
export function visible(doc: CorpusDoc['access'], viewer: Viewer): boolean {
  return doc.isPublic || doc.ownerId === viewer.id || doc.sharedRoles.some((r) => viewer.roles.includes(r));
}

/**
 * `documents` documents of `chunks` chunks. Exactly `publicDocs` of them are
 * public and none is shared with a role `LONER` holds ('R9'), so LONER sees
 * publicDocs / documents of the index.
 */
export function makeCorpus(seed: number, options: { documents: number; chunks: number; publicDocs: number; model: string; dims?: number }): CorpusDoc[] {
  const r = prng(seed);
  const dims = options.dims ?? 512;
  return Array.from({ length: options.documents }, (_, d) => {
    const documentId = randomUUID();
    const access = {
      ownerId: r.pick(USERS),
      isPublic: d < options.publicDocs,
      sharedRoles: r.subset(ROLES, 0.3),
      tags: r.subset(TAGS, 0.4),
      title: `Document ${d} on ${r.pick(WORDS)}`,
      accessSeq: 1,
    };
    const chunks = Array.from({ length: options.chunks }, (_, c) => ({
      content: Array.from({ length: 8 + r.int(25) }, () => r.pick(WORDS.slice(0, 10 + r.int(WORDS.length - 10)))).join(' ') + '.',
      headingPath: ['Results', `Part ${c % 3}`],
      pageStart: 1 + c,
      pageEnd: 1 + c,
      passages: Array.from({ length: 1 + r.int(3) }, () => unitVector(1 + r.int(2 ** 30), dims)),
    }));
    return { documentId, access, version: { documentId, version: 1, model: options.model, dimensions: dims, access, chunks } };
  });
}
