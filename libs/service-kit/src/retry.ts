import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

export interface RetryOptions {
  /** Give up after this many milliseconds. */
  readonly deadlineMs: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly signal?: AbortSignal;
}

/** Thrown when a dependency stayed unreachable past the start-up deadline. */
export class DependencyUnavailableError extends Error {
  readonly dependency: string;

  constructor(dependency: string, target: string, reason: string) {
    super(`${dependency} at ${target} is unreachable: ${reason}`);
    this.name = 'DependencyUnavailableError';
    this.dependency = dependency;
  }
}

/** A one-line reason for a connection failure, without the stack. */
export function describeFailure(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describeFailure(err.errors[0]);
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Calls `connect` until it succeeds, with exponential backoff, logging one
 * clear line per failed attempt (never a stack trace). `target` must not
 * hold credentials: pass a redacted form of the URL.
 */
export async function connectWithRetry<T>(
  dependency: string,
  target: string,
  connect: () => Promise<T>,
  logger: Logger,
  options: RetryOptions,
): Promise<T> {
  const started = Date.now();
  let delay = options.initialDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new DependencyUnavailableError(dependency, target, 'start-up cancelled by shutdown');
    try {
      const result = await connect();
      if (attempt > 1) logger.info({ dependency, target, attempt }, `${dependency} reachable at ${target}`);
      return result;
    } catch (err) {
      const reason = describeFailure(err);
      const elapsed = Date.now() - started;
      if (elapsed + delay > options.deadlineMs || options.signal?.aborted) {
        throw new DependencyUnavailableError(dependency, target, reason);
      }
      logger.warn(
        { dependency, target, attempt, retry_in_ms: delay },
        `waiting for ${dependency} at ${target} (attempt ${attempt}): ${reason}; retrying in ${delay} ms`,
      );
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

/** `postgres://user:pass@host:5432/db` → `postgres://host:5432/db` (no credentials, for logs). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
