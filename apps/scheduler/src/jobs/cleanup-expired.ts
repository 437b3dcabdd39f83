import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@csda/service-kit';
import type { SchedulerClients } from '../clients.ts';

export interface CleanupDeps {
  readonly clients: Pick<SchedulerClients, 'vault' | 'gateway' | 'asScheduler'>;
  /** Days before expiry to warn at, e.g. [14, 3, 1]. */
  readonly thresholdDays: readonly number[];
  readonly logger: Logger;
  /** Secrets per ExpireSecrets / WarnExpiringSecrets call (default 500). */
  readonly batchSize?: number;
}

export interface CleanupResult {
  readonly expired: number;
  readonly warned: number;
  readonly sessionsPurged: number;
  /** Steps that failed, with why (the others still ran). */
  readonly failures: readonly string[];
}

/** Calls per step at most: a vault that always answered `more` must not hold the run forever. */
const MAX_ROUNDS = 10_000;

/** Thrown by a cleanup in which a step failed; carries what the other steps did. */
export class CleanupFailedError extends Error {
  readonly result: CleanupResult;
  constructor(result: CleanupResult) {
    super(`cleanup incomplete: ${describeCleanup(result)}`);
    this.name = 'CleanupFailedError';
    this.result = result;
  }
}

const reason = (err: unknown) => (err instanceof ConnectError ? `${Code[err.code] ?? err.code}: ${err.rawMessage}` : err instanceof Error ? err.message : String(err));

/**
 * cleanup-expired: deactivates expired secrets, sends the expiry warnings not
 * yet sent (each once per secret and threshold, the vault records them), and
 * purges spent or expired refresh tokens at the gateway. Each step runs even
 * if another failed; every step is idempotent, so a rerun finishes the job.
 */
export async function cleanupExpired(deps: CleanupDeps, nowMs = Date.now()): Promise<CleanupResult> {
  const { clients, thresholdDays } = deps;
  const limit = deps.batchSize ?? 500;
  const failures: string[] = [];
  const step = async (name: string, work: () => Promise<number>): Promise<number> => {
    try {
      return await work();
    } catch (err) {
      deps.logger.warn({ err, step: name }, `cleanup step ${name} failed`);
      failures.push(`${name}: ${reason(err)}`);
      return 0;
    }
  };
  const now = BigInt(nowMs);

  const expired = await step('expire secrets', async () => {
    let total = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const res = await clients.vault.expireSecrets({ nowMs: now, limit }, await clients.asScheduler('vault'));
      total += res.expired;
      if (!res.more || res.expired === 0) break;
    }
    return total;
  });
  const warned = await step('warn expiring secrets', async () => {
    let total = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const res = await clients.vault.warnExpiringSecrets({ nowMs: now, thresholdDays: [...thresholdDays], limit }, await clients.asScheduler('vault'));
      total += res.warned;
      if (!res.more || res.warned === 0) break;
    }
    return total;
  });
  const sessionsPurged = await step('purge sessions', async () => Number((await clients.gateway.purgeSessions({ nowMs: now }, await clients.asScheduler('gateway'))).purged));
  return { expired, warned, sessionsPurged, failures };
}

/** One line for logs and job_runs. */
export function describeCleanup(r: CleanupResult): string {
  const done = `${r.expired} expired secret(s) deactivated, ${r.warned} expiry warning(s) sent, ${r.sessionsPurged} session(s) purged`;
  return r.failures.length > 0 ? `${done}; failed: ${r.failures.join('; ')}` : done;
}
