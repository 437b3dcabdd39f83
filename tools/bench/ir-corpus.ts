// The SciFact retrieval collection in ../shared/corpus/ir (BEIR layout: corpus.jsonl,
// queries.jsonl, qrels.tsv, and train/ with its own queries and qrels), and the
// measures the benches report on it: nDCG@10 and recall@100.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface IrDoc {
  readonly id: string;
  readonly title: string;
  readonly text: string;
}
export interface IrQuery {
  readonly id: string;
  readonly text: string;
}
export interface IrCollection {
  readonly docs: readonly IrDoc[];
  readonly queries: readonly IrQuery[];
  /** query id → doc id → grade (> 0 is relevant). */
  readonly qrels: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the collection lives: BENCH_IR_DIR, else ../shared/corpus/ir beside the repository. */
export function irDir(): string {
  return process.env.BENCH_IR_DIR ?? resolve(REPO_ROOT, '..', 'shared', 'corpus', 'ir');
}

/** The collection with the queries and judgments of `split` ("test": top level; "train": train/), or undefined when absent. */
export function loadIrCollection(split: 'test' | 'train', dir = irDir()): IrCollection | undefined {
  const queryDir = split === 'train' ? join(dir, 'train') : dir;
  const files = [join(dir, 'corpus.jsonl'), join(queryDir, 'queries.jsonl'), join(queryDir, 'qrels.tsv')];
  if (!files.every((file) => existsSync(file))) return undefined;
  const [corpus, queries, qrels] = files.map((file) => readFileSync(file, 'utf8'));
  const judged = new Map<string, Map<string, number>>();
  for (const line of qrels!.split('\n').slice(1)) {
    const [queryId, docId, grade] = line.trim().split('\t');
    if (!queryId || !docId) continue;
    if (!judged.has(queryId)) judged.set(queryId, new Map());
    judged.get(queryId)!.set(docId, Number(grade ?? 1));
  }
  return {
    docs: jsonLines<IrDoc>(corpus!).map((d) => ({ id: String(d.id), title: d.title ?? '', text: d.text ?? '' })),
    queries: jsonLines<IrQuery>(queries!)
      .map((q) => ({ id: String(q.id), text: q.text }))
      .filter((q) => judged.has(q.id)),
    qrels: judged,
  };
}

function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** nDCG@k of one ranking (doc ids, best first) against graded judgments. */
export function ndcgAt(ranking: readonly string[], relevant: ReadonlyMap<string, number>, k = 10): number {
  let dcg = 0;
  ranking.slice(0, k).forEach((id, i) => {
    const grade = relevant.get(id) ?? 0;
    if (grade > 0) dcg += (2 ** grade - 1) / Math.log2(i + 2);
  });
  const ideal = [...relevant.values()]
    .filter((g) => g > 0)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((sum, grade, i) => sum + (2 ** grade - 1) / Math.log2(i + 2), 0);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Share of the relevant docs found in the first k. */
export function recallAt(ranking: readonly string[], relevant: ReadonlyMap<string, number>, k = 100): number {
  const wanted = [...relevant].filter(([, g]) => g > 0).map(([id]) => id);
  if (wanted.length === 0) return 0;
  const top = new Set(ranking.slice(0, k));
  return wanted.filter((id) => top.has(id)).length / wanted.length;
}

/** Mean nDCG@10 and recall@100 of rankings (query id → doc ids, best first) over the judged queries. */
export function evaluateRuns(runs: ReadonlyMap<string, readonly string[]>, qrels: IrCollection['qrels']): { ndcg10: number; recall100: number; queries: number } {
  let ndcg = 0;
  let recall = 0;
  for (const [queryId, ranking] of runs) {
    const relevant = qrels.get(queryId) ?? new Map<string, number>();
    ndcg += ndcgAt(ranking, relevant, 10);
    recall += recallAt(ranking, relevant, 100);
  }
  return { ndcg10: ndcg / runs.size, recall100: recall / runs.size, queries: runs.size };
}
