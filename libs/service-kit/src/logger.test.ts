import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

function capture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { stream, lines };
}

describe('createLogger', () => {
  it('writes JSON lines with the service name and level label', async () => {
    const { stream, lines } = capture();
    createLogger({ service: 'vault', level: 'info', destination: stream }).info({ n: 1 }, 'hello');
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({ service: 'vault', level: 'info', msg: 'hello', n: 1 });
  });

  it('censors secret-looking fields at several depths', async () => {
    const { stream, lines } = capture();
    const logger = createLogger({ service: 'gateway', level: 'info', destination: stream });
    logger.info({ password: 'hunter2', user: { token: 'tok-123', name: 'ann' }, req: { headers: { authorization: 'Bearer abc.def' } }, body: { secret: { value: 's3cr3t' } } }, 'login');
    await new Promise((r) => setImmediate(r));
    const text = JSON.stringify(lines);
    for (const leaked of ['hunter2', 'tok-123', 'abc.def', 's3cr3t']) expect(text).not.toContain(leaked);
    expect(lines[0]).toMatchObject({ password: '[redacted]', user: { token: '[redacted]', name: 'ann' } });
  });
});
