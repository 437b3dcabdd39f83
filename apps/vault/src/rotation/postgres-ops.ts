import { ValidationError } from '@csda/errors';
import { RotationFailure, type PostgresOps } from './rotation.engine.ts';
import { applyPassword, canLogin, generatePassword, parsePostgresUrl, PostgresRotationError, withPassword } from './postgres-strategy.ts';

/** Errors of the postgres strategy as rotation failures (their messages carry no password or URL). */
const asFailure = (err: unknown): never => {
  if (err instanceof PostgresRotationError) throw new RotationFailure(`postgres: ${err.message}`, err.transient, { cause: err });
  if (err instanceof ValidationError) throw new RotationFailure(`postgres: ${err.message}`, false, { cause: err });
  throw err;
};

/** The engine's view of PostgreSQL, over postgres-strategy.ts. */
export function createPostgresOps(opts: { timeoutMs?: number } = {}): PostgresOps {
  const call = { timeoutMs: opts.timeoutMs ?? 10_000 };
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
