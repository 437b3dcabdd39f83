import { parseAllowList, type AllowList } from '@csda/net';
import { z } from 'zod';

const SECONDS_LIST = /^\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*$/;

function parseAllow(text: string, ctx: z.RefinementCtx): AllowList {
  try {
    return parseAllowList(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid allow list' });
    return z.NEVER;
  }
}

/** "10,60,300,1800" → [10000, 60000, 300000, 1800000]; "" → no retries. */
function parseBackoff(text: string, ctx: z.RefinementCtx): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const list = SECONDS_LIST.test(trimmed) ? trimmed.split(',').map((n) => Math.round(Number(n) * 1000)) : undefined;
  if (!list || list.length > 20 || list.some((ms) => ms > 86_400_000)) {
    ctx.addIssue({ code: 'custom', message: 'expected up to 20 comma-separated delays in seconds (each at most a day), e.g. "10,60,300,1800"' });
    return z.NEVER;
  }
  return list;
}

/**
 * Alert webhook delivery settings, spread into the scheduler's config schema
 * (`...alertConfigShape`). ALERT_WEBHOOK_ALLOW is the operator's allow list
 * for the SSRF guard (@csda/net parseAllowList syntax: hosts, IPs, CIDRs,
 * comma-separated): alert webhooks reach public addresses only, unless listed.
 */
export const alertConfigShape = {
  ALERT_WEBHOOK_ALLOW: z.string().default('').transform(parseAllow),
  /** Wait before each retry, in seconds; after the last, the delivery is failed. "" = no retries. */
  ALERT_WEBHOOK_BACKOFF_S: z.string().default('10,60,300,1800').transform(parseBackoff),
  ALERT_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** How often each replica looks for due deliveries. */
  ALERT_DELIVERY_POLL_MS: z.coerce.number().int().min(50).max(600_000).default(2_000),
  /** Extra CA certificate(s), PEM, trusted for alert webhooks besides the system's (a private CA). */
  ALERT_WEBHOOK_CA: z
    .string()
    .optional()
    .refine((pem) => pem === undefined || pem.includes('-----BEGIN CERTIFICATE-----'), 'expected PEM certificate(s)'),
};

/** The delivery loop's settings, from a config carrying {@link alertConfigShape}. */
export interface AlertDeliveryConfig {
  /** Wait before retry n (ms); `backoffMs.length + 1` attempts in all. */
  readonly backoffMs: readonly number[];
  readonly timeoutMs: number;
  readonly pollMs: number;
  /** Deliveries sent at once per replica. */
  readonly concurrency: number;
  /** How long a revealed signing secret is kept in memory (≤ 5 min). */
  readonly secretCacheMs: number;
}

type AlertConfig = { [K in keyof typeof alertConfigShape]: z.infer<(typeof alertConfigShape)[K]> };

export function alertDeliveryConfig(config: Pick<AlertConfig, 'ALERT_WEBHOOK_BACKOFF_S' | 'ALERT_WEBHOOK_TIMEOUT_MS' | 'ALERT_DELIVERY_POLL_MS'>): AlertDeliveryConfig {
  return {
    backoffMs: config.ALERT_WEBHOOK_BACKOFF_S,
    timeoutMs: config.ALERT_WEBHOOK_TIMEOUT_MS,
    pollMs: config.ALERT_DELIVERY_POLL_MS,
    concurrency: 8,
    secretCacheMs: 5 * 60_000,
  };
}
