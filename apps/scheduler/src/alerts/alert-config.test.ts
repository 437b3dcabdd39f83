import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { alertConfigShape, alertDeliveryConfig } from './alert-config.ts';

const schema = z.object(alertConfigShape);

describe('alert config', () => {
  it('defaults: public targets only, 10 s, 1 min, 5 min, 30 min back-off, 10 s timeout', () => {
    const config = schema.parse({});
    expect(config.ALERT_WEBHOOK_ALLOW.entries).toEqual([]);
    expect(config.ALERT_WEBHOOK_CA).toBeUndefined();
    expect(alertDeliveryConfig(config)).toEqual({ backoffMs: [10_000, 60_000, 300_000, 1_800_000], timeoutMs: 10_000, pollMs: 2_000, concurrency: 8, secretCacheMs: 300_000 });
  });

  it('reads an allow list, a back-off list ("" = no retries) and fractional seconds', () => {
    const config = schema.parse({ ALERT_WEBHOOK_ALLOW: '10.20.0.0/16, hooks.internal', ALERT_WEBHOOK_BACKOFF_S: ' 0.5, 2 ,30', ALERT_WEBHOOK_TIMEOUT_MS: '2500' });
    expect(config.ALERT_WEBHOOK_ALLOW.allowsAddress('10.20.3.4')).toBe(true);
    expect(config.ALERT_WEBHOOK_ALLOW.allowsHost('hooks.internal')).toBe(true);
    expect(config.ALERT_WEBHOOK_BACKOFF_S).toEqual([500, 2_000, 30_000]);
    expect(config.ALERT_WEBHOOK_TIMEOUT_MS).toBe(2_500);
    expect(schema.parse({ ALERT_WEBHOOK_BACKOFF_S: '' }).ALERT_WEBHOOK_BACKOFF_S).toEqual([]);
  });

  it('refuses malformed values, naming the variable', () => {
    for (const env of [
      { ALERT_WEBHOOK_BACKOFF_S: '10,,60' },
      { ALERT_WEBHOOK_BACKOFF_S: '-5' },
      { ALERT_WEBHOOK_BACKOFF_S: '1m' },
      { ALERT_WEBHOOK_BACKOFF_S: '90000' },
      { ALERT_WEBHOOK_BACKOFF_S: Array(21).fill('1').join(',') },
      { ALERT_WEBHOOK_ALLOW: 'not a host!' },
      { ALERT_WEBHOOK_ALLOW: '10.0.0.0/99' },
      { ALERT_WEBHOOK_TIMEOUT_MS: '0' },
      { ALERT_WEBHOOK_CA: 'not pem' },
    ]) {
      const result = schema.safeParse(env);
      expect(result.success, JSON.stringify(env)).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(Object.keys(env));
    }
  });
});
