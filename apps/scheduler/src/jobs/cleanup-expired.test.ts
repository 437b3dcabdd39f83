import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { GatewayService } from '@csda/proto/csda/gateway/v1/gateway_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createLogger } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { cleanupExpired, CleanupFailedError, describeCleanup } from './cleanup-expired.ts';

function clients(options: { expirable: number; warnable: number; vaultDown?: boolean; gatewayDown?: boolean }) {
  let expirable = options.expirable;
  let warnable = options.warnable;
  const calls: string[] = [];
  const vault = createClient(
    VaultService,
    createRouterTransport(({ service }) =>
      service(VaultService, {
        expireSecrets(req) {
          calls.push(`expire:${req.limit}`);
          if (options.vaultDown) throw new ConnectError('down', Code.Unavailable);
          const n = Math.min(expirable, req.limit);
          expirable -= n;
          return { expired: n, more: expirable > 0 };
        },
        warnExpiringSecrets(req) {
          calls.push(`warn:${req.thresholdDays.join(',')}`);
          if (options.vaultDown) throw new ConnectError('down', Code.Unavailable);
          const n = Math.min(warnable, req.limit);
          warnable -= n;
          return { warned: n, more: warnable > 0 };
        },
      }),
    ),
  );
  const gateway = createClient(
    GatewayService,
    createRouterTransport(({ service }) =>
      service(GatewayService, {
        purgeSessions(_req, ctx) {
          calls.push(`purge:${ctx.requestHeader.get('x-aud')}`);
          if (options.gatewayDown) throw new ConnectError('down', Code.Unavailable);
          return { purged: 7n };
        },
      }),
    ),
  );
  return { calls, clients: { vault, gateway, asScheduler: async (aud: string) => ({ headers: { 'x-aud': aud } }) } };
}

const logger = createLogger({ service: 'test', level: 'silent' });

describe('cleanupExpired', () => {
  it('expires and warns until the vault has no more, then purges sessions', async () => {
    const c = clients({ expirable: 1_100, warnable: 3 });
    const result = await cleanupExpired({ clients: c.clients, thresholdDays: [14, 3, 1], logger, batchSize: 500 });
    expect(result).toEqual({ expired: 1_100, warned: 3, sessionsPurged: 7, failures: [] });
    expect(c.calls).toEqual(['expire:500', 'expire:500', 'expire:500', 'warn:14,3,1', 'purge:gateway']);
    expect(describeCleanup(result)).toBe('1100 expired secret(s) deactivated, 3 expiry warning(s) sent, 7 session(s) purged');
  });

  it('runs every step even when one dependency fails, and says which failed', async () => {
    const c = clients({ expirable: 1, warnable: 1, vaultDown: true });
    const result = await cleanupExpired({ clients: c.clients, thresholdDays: [1], logger });
    expect(result.sessionsPurged).toBe(7);
    expect(result.failures).toHaveLength(2);
    expect(result.failures[0]).toMatch(/^expire secrets: Unavailable: down/);
    expect(new CleanupFailedError(result).message).toContain('failed: expire secrets');

    const g = await cleanupExpired({ clients: clients({ expirable: 2, warnable: 0, gatewayDown: true }).clients, thresholdDays: [1], logger });
    expect(g).toMatchObject({ expired: 2, failures: [expect.stringMatching(/^purge sessions/)] });
  });
});
