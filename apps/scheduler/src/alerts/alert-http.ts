import { checkDestination, createGuardedHttp, HttpRequestError, systemResolver, type AllowList, type GuardedHttp, type Resolver } from '@csda/net';

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
  const options = { allow: config.ALERT_WEBHOOK_ALLOW, requireHttps: true, allowHttpForAllowListed: false, resolver, connectTimeoutMs: RESOLVE_TIMEOUT_MS };
  return async (url: string): Promise<void> => {
    try {
      await checkDestination(url, options);
    } catch (err) {
      if (err instanceof HttpRequestError) return;
      throw err;
    }
  };
}
