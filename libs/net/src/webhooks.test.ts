import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateWebhookSecret, isWebhookSecret, signWebhook, verifyWebhook, WebhookVerificationError } from './webhooks.ts';

// The vector from the standardwebhooks reference library's own tests
// (libraries/javascript/src/webhook.test.ts, "sign function works").
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: new Date(1614265330 * 1000),
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

afterEach(() => {
  vi.useRealTimers();
});

describe('Standard Webhooks', () => {
  it('signs the spec test vector', () => {
    expect(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.payload)).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': VECTOR.signature,
    });
  });

  it('matches an independent HMAC-SHA256 over id.timestamp.payload', () => {
    const secret = generateWebhookSecret();
    const at = new Date();
    const headers = signWebhook(secret, 'msg_1', at, '{"a":"ü"}');
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`msg_1.${Math.floor(at.getTime() / 1000)}.{"a":"ü"}`).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('verifies the spec vector at its own time and refuses it now', () => {
    vi.useFakeTimers({ now: VECTOR.timestamp.getTime() + 60_000, toFake: ['Date'] });
    const headers = { 'webhook-id': VECTOR.id, 'webhook-timestamp': '1614265330', 'webhook-signature': VECTOR.signature };
    expect(() => verifyWebhook(VECTOR.secret, headers, VECTOR.payload)).not.toThrow();
    vi.useRealTimers();
    expect(() => verifyWebhook(VECTOR.secret, headers, VECTOR.payload)).toThrow('more than five minutes in the past');
  });

  it('round-trips, with case-insensitive header names', () => {
    const secret = generateWebhookSecret();
    const payload = JSON.stringify({ type: 'secret.rotated', data: { id: 'x' } });
    const headers = signWebhook(secret, 'msg_abc', new Date(), payload);
    expect(() => verifyWebhook(secret, headers, payload)).not.toThrow();
    const shouted = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(() => verifyWebhook(secret, shouted, payload)).not.toThrow();
  });

  it('accepts any matching signature in a rotation list', () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const at = new Date();
    const oldSig = signWebhook(oldSecret, 'msg_r', at, 'p')['webhook-signature'];
    const headers = signWebhook(newSecret, 'msg_r', at, 'p');
    const both = { ...headers, 'webhook-signature': `${oldSig} ${headers['webhook-signature']}` };
    expect(() => verifyWebhook(newSecret, both, 'p')).not.toThrow();
    expect(() => verifyWebhook(oldSecret, both, 'p')).not.toThrow();
  });

  it('refuses tampering', () => {
    const secret = generateWebhookSecret();
    const at = new Date();
    const headers = signWebhook(secret, 'msg_t', at, '{"amount":1}');
    const refuses = (h: Record<string, string>, payload: string, message: string) =>
      expect(() => verifyWebhook(secret, h, payload)).toThrow(new WebhookVerificationError(message));
    refuses(headers, '{"amount":2}', 'no webhook-signature matches the payload');
    refuses({ ...headers, 'webhook-id': 'msg_u' }, '{"amount":1}', 'no webhook-signature matches the payload');
    refuses({ ...headers, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000) + 1) }, '{"amount":1}', 'no webhook-signature matches the payload');
    refuses({ ...headers, 'webhook-signature': headers['webhook-signature'].replace('v1,', 'v2,') }, '{"amount":1}', 'no webhook-signature matches the payload');
    refuses({ ...headers, 'webhook-signature': 'v1,' }, '{"amount":1}', 'no webhook-signature matches the payload');
    refuses({ ...headers, 'webhook-signature': headers['webhook-signature'].slice(0, 20) }, '{"amount":1}', 'no webhook-signature matches the payload');
    refuses({ 'webhook-id': headers['webhook-id'], 'webhook-timestamp': headers['webhook-timestamp'] }, '{"amount":1}', 'webhook-id, webhook-timestamp and webhook-signature are required');
    refuses({ ...headers, 'webhook-timestamp': `${headers['webhook-timestamp']}abc` }, '{"amount":1}', 'webhook-timestamp is not a unix time in seconds');
    refuses({ ...headers, 'webhook-timestamp': 'hello' }, '{"amount":1}', 'webhook-timestamp is not a unix time in seconds');
    // Another secret.
    expect(() => verifyWebhook(generateWebhookSecret(), headers, '{"amount":1}')).toThrow(WebhookVerificationError);
  });

  it('judges the same header spelling the library verifies', () => {
    const secret = generateWebhookSecret();
    const headers = signWebhook(secret, 'msg_d', new Date(), 'p');
    // Two spellings of webhook-timestamp: the last one is what counts, and it is malformed.
    const doubled = { ...headers, 'Webhook-Timestamp': `${headers['webhook-timestamp']}abc` };
    expect(() => verifyWebhook(secret, doubled, 'p')).toThrow('webhook-timestamp is not a unix time in seconds');
  });

  it('refuses old and future timestamps even when correctly signed', () => {
    const secret = generateWebhookSecret();
    const old = signWebhook(secret, 'msg_o', new Date(Date.now() - 6 * 60_000), 'p');
    expect(() => verifyWebhook(secret, old, 'p')).toThrow('more than five minutes in the past');
    const future = signWebhook(secret, 'msg_f', new Date(Date.now() + 6 * 60_000), 'p');
    expect(() => verifyWebhook(secret, future, 'p')).toThrow('more than five minutes in the future');
    const recent = signWebhook(secret, 'msg_n', new Date(Date.now() - 4 * 60_000), 'p');
    expect(() => verifyWebhook(secret, recent, 'p')).not.toThrow();
  });

  it('generates well-formed, distinct secrets', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(isWebhookSecret(a)).toBe(true);
  });

  it.each([
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', true], // 24 bytes
    [`whsec_${Buffer.alloc(64, 7).toString('base64')}`, true],
    [`whsec_${Buffer.alloc(23, 7).toString('base64')}`, false],
    [`whsec_${Buffer.alloc(65, 7).toString('base64')}`, false],
    ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', false],
    ['whsec_', false],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', false],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w', false],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n', false],
    [`whsec_${Buffer.alloc(32, 7).toString('base64url')}`, false],
  ])('isWebhookSecret(%j) is %s', (value, expected) => {
    expect(isWebhookSecret(value)).toBe(expected);
  });

  it('refuses to sign with a malformed secret or id, without echoing the secret', () => {
    const at = new Date();
    expect(() => signWebhook('whsec_short', 'msg', at, 'p')).toThrow(TypeError);
    try {
      signWebhook('whsec_notreallyasecret!!', 'msg', at, 'p');
    } catch (err) {
      expect((err as Error).message).not.toContain('notreallyasecret');
    }
    const secret = generateWebhookSecret();
    expect(() => signWebhook(secret, '', at, 'p')).toThrow(TypeError);
    expect(() => signWebhook(secret, 'msg id', at, 'p')).toThrow(TypeError);
    expect(() => signWebhook(secret, 'msg\r\nx-evil: 1', at, 'p')).toThrow(TypeError);
    expect(() => signWebhook(secret, 'msg', new Date(Number.NaN), 'p')).toThrow(TypeError);
    expect(() => verifyWebhook('whsec_short', { 'webhook-id': 'a', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' }, 'p')).toThrow(TypeError);
  });
});
