import { ValidationError } from '@csda/errors';
import { parseAllowList } from '@csda/net';
import { RotationFailure, type PostgresOps } from './rotation.engine.ts';
import { applyPassword, canLogin, generatePassword, parsePostgresUrl, PostgresRotationError, withPassword, type PostgresEgress } from './postgres-strategy.ts';

/**
 * Errors of the postgres strategy as rotation failures (their messages carry
 * no password or URL). A destination the egress guard refuses is permanent
 * (`transient: false`), so the job fails at once instead of retrying.
 */
const asFailure = (err: unknown): never => {
  if (err instanceof PostgresRotationError) throw new RotationFailure(`postgres: ${err.message}`, err.transient, { cause: err });
  if (err instanceof ValidationError) throw new RotationFailure(`postgres: ${err.message}`, false, { cause: err });
  throw err;
};

export interface PostgresOpsOptions {
  /** The operator's allow list (config VAULT_POSTGRES_ALLOW); without one only public addresses are reached. */
  readonly allow?: PostgresEgress['allow'];
  /** Injected in tests; default the system resolver. */
  readonly resolver?: PostgresEgress['resolver'];
  readonly timeoutMs?: number;
}

/** The engine's view of PostgreSQL, over postgres-strategy.ts; every connection through the egress guard. */
export function createPostgresOps(opts: PostgresOpsOptions = {}): PostgresOps {
  const egress: PostgresEgress = { allow: opts.allow ?? parseAllowList(''), ...(opts.resolver ? { resolver: opts.resolver } : {}) };
  const call = { egress, timeoutMs: opts.timeoutMs ?? 10_000 };
  return {
    credentials(url) {
      try {
        const c = parsePostgresUrl(url);
        return { role: c.user, password: c.password };
      } catch (err) {
        return asFailure(err);
      }
    },
    withPassword(url, password) {
      try {
        return withPassword(url, password);
      } catch (err) {
        return asFailure(err);
      }
    },
    generatePassword: (length) => generatePassword(length),
    applyPassword: (connectUrl, role, password) => applyPassword(connectUrl, role, password, call).catch(asFailure),
    canLogin: (url) => canLogin(url, call).catch(asFailure),
  };
}
