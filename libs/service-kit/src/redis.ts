import { ExternalServiceError } from '@csda/errors';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CheckResult } from './health.ts';
import { describeFailure } from './retry.ts';

export { Redis };

/**
 * Runs a Redis operation; a failure (Redis down, timeout) becomes
 * `ExternalServiceError('redis')`, the one way callers report it (503).
 */
export async function redisOp<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new ExternalServiceError('redis', err);
  }
}

/**
 * A Redis client that connects on `connect()` (the start-up retry calls it)
 * and afterwards reconnects by itself; commands fail fast while it is down
 * instead of queueing without bound.
 */
export function createRedis(url: string, keyPrefix: string, logger: Pick<Logger, 'warn'>): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    keyPrefix,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 3_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Without a listener ioredis prints every connection error to the console; one log line per distinct failure instead.
  let last = '';
  redis.on('error', (err: Error) => {
    const reason = describeFailure(err);
    if (reason !== last) logger.warn({ dependency: 'redis' }, `redis: ${reason}`);
    last = reason;
  });
  redis.on('ready', () => {
    last = '';
  });
  return redis;
}

/** Connects a lazy client; on failure leaves it disconnected so the caller can retry. */
export async function connectRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
}

export function redisCheck(redis: Redis): () => Promise<CheckResult> {
  return async () => (redis.status === 'ready' ? { ok: (await redis.ping()) === 'PONG' } : { ok: false, detail: redis.status });
}
