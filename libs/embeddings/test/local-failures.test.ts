// Worker failures of the local provider: each fails the call that held the
// batch with EmbeddingUnavailableError (never hangs), the worker is replaced,
// and the next call is answered.
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddingProvider } from '../src/index.ts';
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

describe('local provider worker failures', () => {
  it.each([
    ['exits', 'crash', /worker exited with code 3/],
    ['throws', 'throw', /worker blew up/],
  ])('a worker that %s fails its call as crashed, and a new worker answers the next call', async (_how, text, message) => {
    const p = provider();
    await p.ready!();
    const err = await p.embed(['fine', text]).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'EmbeddingUnavailableError', kind: 'crashed', code: 'EXTERNAL_SERVICE_ERROR' });
    expect((err as Error).message).toMatch(message);
    expect(await p.embed(['after the crash'])).toHaveLength(1);
  });

  it('fails only the call whose batch crashed; a call queued behind it is answered by the replacement', async () => {
    const p = provider({ batchSize: 1 });
    await p.ready!();
    const crashing = p.embed(['crash']);
    const behind = p.embed(['waits its turn']);
    await expect(crashing).rejects.toMatchObject({ kind: 'crashed' });
    await expect(behind).resolves.toHaveLength(1);
  });

  it('an error answer for a batch fails the call and keeps the worker', async () => {
    const p = provider();
    await expect(p.embed(['fail'])).rejects.toMatchObject({ kind: 'crashed', message: expect.stringMatching(/bad batch/) });
    expect(await p.embed(['ok'])).toHaveLength(1);
  });

  it('a batch that never ends times out, and its worker is replaced', async () => {
    const p = provider({ batchTimeoutMs: 300 });
    await p.ready!();
    const started = Date.now();
    await expect(p.embed(['hang'])).rejects.toMatchObject({ kind: 'timeout', message: expect.stringMatching(/longer than 300 ms/) });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await p.embed(['after the hang'])).toHaveLength(1);
  });

  it('a model that fails to load makes ready() and calls fail fast as unavailable', async () => {
    const p = provider({ workerData: { failLoad: 'weights missing' } });
    await expect(p.ready!()).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/weights missing/) });
    const started = Date.now();
    await expect(p.embed(['x'])).rejects.toMatchObject({ kind: 'unavailable' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('calls made while the model loads wait for it; a worker dying while loading fails them', async () => {
    const slow = provider({ workerData: { loadMs: 300 } });
    await expect(slow.embed(['waited for the load'])).resolves.toHaveLength(1);
    const dying = provider({ workerData: { loadMs: 200, crashOnLoad: true } });
    await expect(dying.embed(['x'])).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/code 7/) });
  });
});
