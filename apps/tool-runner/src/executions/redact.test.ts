import { describe, expect, it } from 'vitest';
import { redactResult } from './redact.ts';

describe('redactResult', () => {
  it('replaces every granted value in output (keys and values, any depth), stderr, error and warnings', () => {
    const r = redactResult(
      { status: 'failed', output: { 'k-s3cret-x': ['a s3cret b', { deep: 's3cret' }], n: 1 }, stderr: 'xs3crets3cret', error: { code: 'E', message: 'bad s3cret' }, truncated: false, exitCode: 1, warnings: ['w s3cret'] },
      ['s3cret', ''],
    );
    expect(JSON.stringify(r)).not.toContain('s3cret');
    expect(r.output).toEqual({ 'k-[REDACTED]-x': ['a [REDACTED] b', { deep: '[REDACTED]' }], n: 1 });
    expect(r.stderr).toBe('x[REDACTED][REDACTED]');
  });

  it('catches a longer value that contains a shorter one whole', () => {
    const r = redactResult({ status: 'completed', output: 'abcdef', stderr: '', error: null, truncated: false, exitCode: 0, warnings: [] }, ['abc', 'abcdef']);
    expect(r.output).toBe('[REDACTED]');
  });
});
