import { ConfigError, loadConfig } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.ts';

const load = (env: Record<string, string>) => loadConfig(configSchema, env);

describe('scheduler config', () => {
  it('defaults: loops on, scan every 60 s, cleanup hourly, warnings at 14, 3 and 1 days, gateway RPC on 50050, tool-runner on 50052, document-ingest on 50053', () => {
    const c = load({});
    expect(c).toMatchObject({
      SCHEDULER_LOOPS: true,
      SCHEDULER_SCAN_INTERVAL_S: 60,
      SCHEDULER_CLEANUP_INTERVAL_S: 3_600,
      GATEWAY_URL: 'http://127.0.0.1:50050',
      VAULT_URL: 'http://127.0.0.1:50051',
      TOOL_RUNNER_URL: 'http://127.0.0.1:50052',
      DOCUMENT_INGEST_URL: 'http://127.0.0.1:50053',
    });
    expect(c.SCHEDULER_EXPIRY_WARN_DAYS).toEqual([14, 3, 1]);
  });

  it('parses thresholds in any order and the loop switch', () => {
    const c = load({ SCHEDULER_EXPIRY_WARN_DAYS: ' 1, 30 ,7', SCHEDULER_LOOPS: 'FALSE' });
    expect(c.SCHEDULER_EXPIRY_WARN_DAYS).toEqual([30, 7, 1]);
    expect(c.SCHEDULER_LOOPS).toBe(false);
  });

  it('refuses bad values naming the variable', () => {
    for (const [name, value] of [
      ['SCHEDULER_EXPIRY_WARN_DAYS', '14,,1'],
      ['SCHEDULER_EXPIRY_WARN_DAYS', '0'],
      ['SCHEDULER_EXPIRY_WARN_DAYS', '3,3'],
      ['SCHEDULER_EXPIRY_WARN_DAYS', 'soon'],
      ['SCHEDULER_LOOPS', 'maybe'],
      ['SCHEDULER_SCAN_INTERVAL_S', '0'],
      ['GATEWAY_URL', 'ftp://gateway'],
      ['TOOL_RUNNER_URL', 'file:///tool-runner'],
      ['DOCUMENT_INGEST_URL', 'javascript:alert(1)'],
    ] as const) {
      const err = (() => {
        try {
          load({ [name]: value });
        } catch (e) {
          return e;
        }
      })();
      expect(err, `${name}=${value}`).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join()).toContain(name);
    }
  });
});
