import { isIP } from 'node:net';
import { checkAddress, createGuardedHttp, systemResolver, validateTarget, type AllowList, type GuardedHttp, type Resolver } from '@csda/net';

const RESOLVE_TIMEOUT_MS = 5_000;

export interface AlertHttpConfig {
  readonly ALERT_WEBHOOK_ALLOW: AllowList;
  readonly ALERT_WEBHOOK_CA?: string | undefined;
}

/**
 * The SSRF-guarded client alert deliveries go through: https only, public
 * addresses unless ALERT_WEBHOOK_ALLOW lists them, redirects never followed.
 * Close it on shutdown (`close()`).
 */
export function createAlertHttp(config: AlertHttpConfig, options: { resolver?: Resolver } = {}): GuardedHttp {
  return createGuardedHttp({
    allow: config.ALERT_WEBHOOK_ALLOW,
    requireHttps: true,
    userAgent: 'csda-scheduler-alerts',
    ...(config.ALERT_WEBHOOK_CA ? { ca: config.ALERT_WEBHOOK_CA } : {}),
    ...(options.resolver ? { resolver: options.resolver } : {}),
  });
}

/**
 * The guard's decision for a webhook URL at create time, without connecting:
 * throws EgressRefusedError when the URL, or any address its host resolves to
 * now, would be refused. A name that does not resolve (yet) passes: delivery
 * decides again, per connection.
 */
export function createDestinationCheck(config: Pick<AlertHttpConfig, 'ALERT_WEBHOOK_ALLOW'>, resolver: Resolver = systemResolver) {
  const allow = config.ALERT_WEBHOOK_ALLOW;
  return async (url: string): Promise<void> => {
    const target = validateTarget(url, { allow, requireHttps: true, allowHttpForAllowListed: false });
    if (isIP(target.host) !== 0) return; // validateTarget has judged the literal address
    let addresses: readonly { address: string }[];
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        resolver(target.host),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('resolve timeout')), RESOLVE_TIMEOUT_MS))),
      ]);
    } catch {
      return;
    } finally {
      clearTimeout(timer);
    }
    for (const { address } of addresses) checkAddress(target.host, address, allow);
  };
}
