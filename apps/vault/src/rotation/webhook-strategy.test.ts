import { EgressRefusedError, HttpRequestError, generateWebhookSecret, verifyWebhook, type GuardedRequestInit, type GuardedResponse } from '@csda/net';
import { describe, expect, it } from 'vitest';
import { RotationFailure } from './rotation.engine.ts';
import { createWebhookOps } from './webhook-strategy.ts';

const secret = generateWebhookSecret();
const target = { url: 'https://hooks.example.com/rotate', timeoutMs: 5_000, signingSecret: secret, webhookId: 'rotate:s1:2' };

function fakeHttp(answer: (init: GuardedRequestInit) => GuardedResponse | Promise<GuardedResponse>) {
  const calls: { url: string; init: GuardedRequestInit }[] = [];
  return { calls, http: { request: async (url: string, init: GuardedRequestInit) => (calls.push({ url, init }), answer(init)) } };
}
const res = (status: number, body = ''): GuardedResponse => ({ status, headers: {}, body: Buffer.from(body) });
const failure = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RotationFailure);
  return err as RotationFailure;
};

describe('webhook strategy', () => {
  it('POSTs a JSON body signed per Standard Webhooks, with the given webhook-id and a bounded response', async () => {
    const { calls, http } = fakeHttp(() => res(204));
    await createWebhookOps({ http }).push(target, { type: 'secret.rotation', value: 'v2' });
    const { url, init } = calls[0]!;
    expect(url).toBe(target.url);
    expect(init).toMatchObject({ method: 'POST', timeoutMs: 5_000, maxResponseBytes: 262_144 });
    expect(init.headers!['webhook-id']).toBe('rotate:s1:2');
    expect(() => verifyWebhook(secret, init.headers!, String(init.body))).not.toThrow();
    expect(() => verifyWebhook(generateWebhookSecret(), init.headers!, String(init.body))).toThrow();
  });

  it('retries 5xx, 408 and 429 and network failures; 3xx, other 4xx, refusals and oversize answers are permanent', async () => {
    for (const [status, transient] of [[500, true], [503, true], [408, true], [429, true], [302, false], [400, false], [404, false]] as const) {
      const err = await failure(createWebhookOps({ http: fakeHttp(() => res(status)).http }).push(target, {}));
      expect([status, err.transient]).toEqual([status, transient]);
      expect(err.message).toMatch(new RegExp(`HTTP ${status}`));
    }
    const refused = await failure(createWebhookOps({ http: fakeHttp(() => Promise.reject(new EgressRefusedError('metadata', '169.254.169.254', 'refused'))).http }).push(target, {}));
    expect(refused.transient).toBe(false);
    const timeout = await failure(createWebhookOps({ http: fakeHttp(() => Promise.reject(new HttpRequestError('timeout', 'hooks.example.com', 'timed out'))).http }).push(target, {}));
    expect(timeout.transient).toBe(true);
  });

  it('takes the value of a pull answer and refuses anything else, never echoing the body', async () => {
    expect(await createWebhookOps({ http: fakeHttp(() => res(200, JSON.stringify({ value: 'pulled' }))).http }).pull(target, {})).toBe('pulled');
    for (const body of ['not json super-secret-body', JSON.stringify({ value: '' }), JSON.stringify({ value: 7 }), JSON.stringify({ other: 'x' })]) {
      const err = await failure(createWebhookOps({ http: fakeHttp(() => res(200, body)).http }).pull(target, {}));
      expect(err.transient).toBe(false);
      expect(err.message).not.toContain('super-secret');
    }
  });
});
