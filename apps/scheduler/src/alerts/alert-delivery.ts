import { Code, ConnectError } from '@connectrpc/connect';
import { EgressRefusedError, HttpRequestError, isWebhookSecret, signWebhook, type GuardedHttp } from '@csda/net';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { AlertDeliveryConfig } from './alert-config.ts';
import { createDeliveryRepository, type ClaimedDelivery, type DeliveryOutcome } from './alert-delivery.repository.ts';
import type { AlertRecord, RevealSigningSecret, SigningSecretRef } from './alert.types.ts';
import { createSigningSecretCache } from './signing-secret-cache.ts';

export interface AlertDeliveryDeps {
  /** A fresh EntityManager per round (`() => orm.em.fork()`). */
  readonly em: () => EntityManager;
  readonly logger: Logger;
  /** The SSRF-guarded client (@csda/net), built with ALERT_WEBHOOK_ALLOW; it never follows redirects. */
  readonly http: Pick<GuardedHttp, 'request'>;
  readonly revealSigningSecret: RevealSigningSecret;
  readonly config: AlertDeliveryConfig;
}

export interface AlertDelivery {
  /** Look for due deliveries now (e.g. right after alerts were raised). */
  kick(): void;
  /** Stops claiming; resolves once the deliveries in flight are recorded. */
  stop(): Promise<void>;
}

/** The Standard Webhooks event type of every alert delivery. */
export const ALERT_EVENT_TYPE = 'alert.raised';
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The JSON body sent for an alert: the same bytes on every attempt. */
export function alertPayload(alert: AlertRecord): string {
  return JSON.stringify({
    type: ALERT_EVENT_TYPE,
    timestamp: alert.createdAt.toISOString(),
    data: {
      alert: {
        id: alert.id,
        kind: alert.kind,
        severity: alert.severity,
        owner_id: alert.ownerId,
        resource_type: alert.resourceType,
        resource_id: alert.resourceId,
        message: alert.message,
        created_at: alert.createdAt.toISOString(),
      },
    },
  });
}

/**
 * Sends pending alert deliveries to their webhooks, on every replica at once:
 * each round claims due rows with FOR UPDATE SKIP LOCKED and a lease, so a
 * delivery is sent by one replica at a time. Each request is POSTed through
 * the SSRF guard, signed per Standard Webhooks with webhook-id = delivery id
 * (a retry carries the same id, receivers de-duplicate on it). A 2xx
 * delivers; anything else (a redirect too: it is never followed) is retried
 * after ALERT_WEBHOOK_BACKOFF_S, then failed. A destination the guard refuses
 * is failed at once, with no connection attempted.
 */
export function startAlertDelivery(deps: AlertDeliveryDeps): AlertDelivery {
  const { config, http, logger } = deps;
  const secrets = createSigningSecretCache(deps.revealSigningSecret, Math.min(config.secretCacheMs, 5 * 60_000));
  // Long enough for the request and the write of its outcome; a replica that died mid-send is overtaken after it.
  const leaseMs = config.timeoutMs + 30_000;
  let stopped = false;
  let kicked = false;
  let wake: (() => void) | undefined;
  let failures = 0;
  const stopping = new AbortController();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
      if (kicked || stopped) done();
    });

  function nextStep(d: ClaimedDelivery, status: number | null, error: string): DeliveryOutcome {
    const wait = config.backoffMs[d.attempt - 1];
    return wait === undefined ? { result: 'failed', status, error } : { result: 'retry', status, error, retryAt: new Date(Date.now() + wait) };
  }

  async function attempt(d: ClaimedDelivery): Promise<DeliveryOutcome> {
    if (d.webhook.deleted) return { result: 'failed', status: null, error: 'webhook deleted' };
    const ref: SigningSecretRef = { signingSecretId: d.webhook.signingSecretId, owner: { id: d.webhook.createdBy, name: d.webhook.createdByName, roles: [] } };
    let secret: string;
    try {
      secret = await secrets.get(ref);
    } catch (err) {
      return nextStep(d, null, `signing secret ${d.webhook.signingSecretId} unavailable${codeOf(err)}`);
    }
    if (!isWebhookSecret(secret)) {
      secrets.forget(ref);
      return nextStep(d, null, `signing secret ${d.webhook.signingSecretId} does not hold a whsec_ value`);
    }
    const body = alertPayload(d.alert);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'csda-scheduler-alerts',
      ...signWebhook(secret, d.id, new Date(), body),
    };
    try {
      const res = await http.request(d.webhook.url, { method: 'POST', headers, body, timeoutMs: config.timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES, signal: stopping.signal });
      if (res.status >= 200 && res.status < 300) return { result: 'delivered', status: res.status };
      // The receiver may have a newer signing secret than the one cached here.
      if (res.status === 401 || res.status === 403) secrets.forget(ref);
      const error = res.status >= 300 && res.status < 400 ? `redirect not followed (HTTP ${res.status})` : `HTTP ${res.status}`;
      return nextStep(d, res.status, error);
    } catch (err) {
      if (stopping.signal.aborted) return { result: 'retry', status: null, error: 'interrupted by shutdown', retryAt: new Date() };
      if (err instanceof EgressRefusedError) return { result: 'failed', status: null, error: `refused by the egress guard: ${err.message}` };
      if (err instanceof HttpRequestError) return nextStep(d, null, `${err.kind}: ${err.message}`);
      return nextStep(d, null, `request failed${codeOf(err)}`);
    }
  }

  async function deliver(d: ClaimedDelivery): Promise<void> {
    const outcome = await attempt(d);
    const log = { delivery_id: d.id, alert_id: d.alert.id, webhook_id: d.webhook.id, attempt: d.attempt };
    const recorded = await createDeliveryRepository(deps.em()).record(d.id, d.attempt, outcome);
    if (!recorded) {
      logger.warn(log, 'alert delivery outcome not recorded: the claim was overtaken');
    } else if (outcome.result === 'delivered') {
      logger.info({ ...log, http_status: outcome.status }, 'alert delivered');
    } else {
      logger.warn({ ...log, http_status: outcome.status, reason: outcome.error, retry_at: outcome.result === 'retry' ? outcome.retryAt.toISOString() : undefined },
        outcome.result === 'retry' ? 'alert delivery failed, will retry' : 'alert delivery failed for good');
    }
  }

  // Up to `concurrency` deliveries in flight; a slot that frees up is refilled at once, so a slow receiver holds one slot, not a round.
  const inFlight = new Set<Promise<void>>();
  const wakeUp = () => {
    kicked = true;
    wake?.();
  };

  /** Claims as many due deliveries as there are free slots and starts them; returns whether it filled every slot. */
  async function fill(): Promise<boolean> {
    const free = config.concurrency - inFlight.size;
    if (free <= 0) return false;
    const claimed = await createDeliveryRepository(deps.em()).claim(free, leaseMs);
    for (const d of claimed) {
      const running: Promise<void> = deliver(d)
        .catch((err: unknown) => logger.error({ delivery_id: d.id, err: messageOf(err) }, 'alert delivery outcome not recorded; retried after its lease'))
        .finally(() => {
          inFlight.delete(running);
          wakeUp();
        });
      inFlight.add(running);
    }
    return claimed.length === free;
  }

  const loop = (async () => {
    while (!stopped) {
      kicked = false;
      try {
        const full = await fill();
        if (failures > 0) logger.info({ after_failures: failures }, 'alert delivery recovered');
        failures = 0;
        if (full) continue;
        await sleep(config.pollMs);
      } catch (err) {
        failures += 1;
        if (failures === 1 || failures % 10 === 0) logger.warn({ failures, err: messageOf(err) }, 'alert delivery cannot claim deliveries; retrying');
        await sleep(Math.min(30_000, config.pollMs * 2 ** Math.min(failures, 5)));
      }
    }
    await Promise.all(inFlight);
  })();

  return {
    kick: wakeUp,
    async stop() {
      stopped = true;
      wake?.();
      stopping.abort(new Error('alert delivery stopped'));
      await loop;
    },
  };
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A short, value-free reason: a Connect or errno code, never a message that might quote a value. */
function codeOf(err: unknown): string {
  if (err instanceof ConnectError) return ` (${Code[err.code]})`;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' || typeof code === 'number' ? ` (${String(code)})` : '';
}
