// The local provider's worker pool with a stand-in worker (real threads, no
// model): order across batches and threads, abort, the bounded queue, and an
// event loop that stays free while workers burn CPU.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingUnavailableError, type EmbeddingProvider } from '../src/index.ts';
import { vectorOf } from './support/fake-vectors.ts';
import { fakeLocalProvider } from './support/pool-harness.ts';

const open: EmbeddingProvider[] = [];
const provider = (...args: Parameters<typeof fakeLocalProvider>) => {
  const p = fakeLocalProvider(...args);
  open.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

describe('local provider pool', () => {
  it('answers every text in input order across batches and threads', async () => {
    const p = provider({ threads: 2, batchSize: 3 });
    const texts = Array.from({ length: 23 }, (_, i) => `text number ${i}`);
    const vectors = await p.embed(texts);
    expect(vectors).toHaveLength(23);
    vectors.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(vectorOf(texts[i]!, 512))));
    expect(await p.embed([])).toEqual([]);
  });

  it('serves concurrent calls without mixing their answers', async () => {
    const p = provider({ threads: 2, batchSize: 2 });
    const calls = Array.from({ length: 6 }, (_, c) => Array.from({ length: 5 }, (_, i) => `call ${c} text ${i}`));
    const answers = await Promise.all(calls.map((texts) => p.embed(texts)));
    answers.forEach((vectors, c) => vectors.forEach((v, i) => expect(v[0]).toBe(vectorOf(calls[c]![i]!, 512)[0])));
  });

  it('keeps the event loop free while a worker spins for a second', async () => {
    const p = provider();
    await p.ready!();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    await p.embed(['busy:1000', 'busy:200']);
    delay.disable();
    // If the batch ran on this thread the loop would have stalled ≥ 1,200 ms.
    expect(delay.max / 1e6).toBeLessThan(400);
  });

  it('rejects an aborted call with the abort reason, queued or running, and stays usable', async () => {
    const p = provider({ batchSize: 1 });
    await p.ready!();
    const controller = new AbortController();
    const call = p.embed(['busy:300', 'queued a', 'queued b'], { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    const started = Date.now();
    await expect(call).rejects.toThrow('caller gave up');
    expect(Date.now() - started).toBeLessThan(250); // did not wait for the running batch
    await expect(p.embed(['x'], { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    expect(await p.embed(['after'])).toHaveLength(1);
  });

  it('fails at once with overloaded when the queue is full', async () => {
    const p = provider({ batchSize: 2, queueMax: 4 });
    await p.ready!();
    const running = p.embed(['busy:300', 'a']);
    const waiting = p.embed(['b', 'c', 'd', 'e']);
    const refused = p.embed(['f']);
    await expect(refused).rejects.toMatchObject({ name: 'EmbeddingUnavailableError', kind: 'overloaded', code: 'EXTERNAL_SERVICE_ERROR' });
    await expect(running).resolves.toHaveLength(2);
    await expect(waiting).resolves.toHaveLength(4);
  });

  it('feeds one call larger than the queue through it a few batches at a time', async () => {
    const p = provider({ threads: 2, batchSize: 2, queueMax: 6 });
    const texts = Array.from({ length: 40 }, (_, i) => `many ${i}`);
    const vectors = await p.embed(texts);
    vectors.forEach((v, i) => expect(v[0]).toBe(vectorOf(texts[i]!, 512)[0]));
  });

  it('refuses non-string input as a programming error', async () => {
    const p = provider();
    await expect(p.embed(['ok', 42 as unknown as string])).rejects.toThrow('texts[1] is not a string');
  });

  it('fails every call after close without touching a worker', async () => {
    const p = provider();
    await p.ready!();
    await p.close();
    const err = await p.embed(['x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddingUnavailableError);
    expect((err as EmbeddingUnavailableError).message).toMatch(/closed/);
  });
});
