import { EgressRefusedError, HttpRequestError, signWebhook, type GuardedHttp } from '@csda/net';
import { RotationFailure, type WebhookOps, type WebhookTarget } from './rotation.engine.ts';

/** A pull answer carries one value; anything bigger is not one. */
const MAX_RESPONSE_BYTES = 256 * 1024;
/** Statuses that may succeed when asked again; other 4xx mean the request itself is refused. */
const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

/**
 * The webhook strategy's deliveries: a JSON body signed per Standard
 * Webhooks (webhook-id stays the same across attempts at one version, so a
 * receiver applies it once), sent through the SSRF-guarded client, which
 * never follows redirects. A 2xx accepts; 5xx, 408/429 and network
 * failures are retried; other answers are permanent failures.
 */
export function createWebhookOps(deps: { http: Pick<GuardedHttp, 'request'>; now?: () => Date }): WebhookOps {
  const now = deps.now ?? (() => new Date());
  const send = async (target: WebhookTarget, body: Record<string, unknown>) => {
    const payload = JSON.stringify(body);
    const headers = { 'content-type': 'application/json', ...signWebhook(target.signingSecret, target.webhookId, now(), payload) };
    let res;
    try {
      res = await deps.http.request(target.url, { method: 'POST', headers, body: payload, timeoutMs: target.timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES });
    } catch (err) {
      if (err instanceof EgressRefusedError) throw new RotationFailure(`webhook refused by the egress guard: ${err.message}`, false, { cause: err });
      if (err instanceof HttpRequestError) throw new RotationFailure(`webhook request failed: ${err.message}`, err.kind !== 'too_large', { cause: err });
      throw err;
    }
    if (res.status >= 200 && res.status < 300) return res;
    const redirect = res.status >= 300 && res.status < 400;
    const transient = res.status >= 500 || RETRYABLE_4XX.has(res.status);
    throw new RotationFailure(`webhook answered HTTP ${res.status}${redirect ? ' (redirects are not followed)' : ''}`, transient);
  };
  return {
    async push(target, body) {
      await send(target, body);
    },
    async pull(target, body) {
      const res = await send(target, body);
      let value: unknown;
      try {
        value = (JSON.parse(res.body.toString('utf8')) as { value?: unknown }).value;
      } catch {
        throw new RotationFailure('webhook answer is not JSON {"value": "..."}', false);
      }
      if (typeof value !== 'string' || value.length === 0) throw new RotationFailure('webhook answer has no "value" string', false);
      if (Buffer.byteLength(value, 'utf8') > 65_536) throw new RotationFailure('webhook answer value is larger than 65536 bytes', false);
      return value;
    },
  };
}
