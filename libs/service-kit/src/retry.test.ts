import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { DependencyUnavailableError, connectWithRetry, redactUrl } from './retry.ts';

const quiet = () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { logger: createLogger({ service: 't', level: 'info', destination: stream }), text: () => text };
};

describe('connectWithRetry', () => {
  it('retries with backoff until the dependency answers, logging one line per failure', async () => {
    const { logger, text } = quiet();
    let calls = 0;
    const value = await connectWithRetry(
      'postgres',
      'postgres://db:5432/csda',
      async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        return 'connected';
      },
      logger,
      { deadlineMs: 5_000, initialDelayMs: 5 },
    );
    await new Promise((r) => setImmediate(r));
    expect(value).toBe('connected');
    expect(calls).toBe(3);
    const lines = text().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; stack?: string });
    expect(lines.filter((l) => l.msg.startsWith('waiting for postgres'))).toHaveLength(2);
    expect(text()).not.toContain('    at ');
  });

  it('gives up at the deadline with an error naming the dependency', async () => {
    const { logger } = quiet();
    const attempt = connectWithRetry('nats', 'nats://127.0.0.1:1', async () => Promise.reject(new Error('CONNECTION_REFUSED')), logger, { deadlineMs: 60, initialDelayMs: 10 });
    await expect(attempt).rejects.toBeInstanceOf(DependencyUnavailableError);
    await expect(attempt).rejects.toThrow('nats at nats://127.0.0.1:1 is unreachable: CONNECTION_REFUSED');
  });

  it('stops waiting when shutdown is requested', async () => {
    const { logger } = quiet();
    const controller = new AbortController();
    const attempt = connectWithRetry('redis', 'redis://x', async () => Promise.reject(new Error('down')), logger, { deadlineMs: 60_000, initialDelayMs: 20, signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    await expect(attempt).rejects.toThrow(/unreachable/);
  });
});

describe('redactUrl', () => {
  it('drops credentials', () => {
    expect(redactUrl('postgres://app:hunter2@db.internal:5432/csda')).toBe('postgres://db.internal:5432/csda');
    expect(redactUrl('nope')).toBe('(invalid url)');
  });
});
