import { describe, expect, it } from 'vitest';
import { formatDuration, formatLogLine, LineSplitter, prefixLine, Tail } from './lines.ts';

describe('LineSplitter', () => {
  it('joins lines across chunks and keeps the unfinished tail', () => {
    const s = new LineSplitter();
    expect(s.push('a\nb')).toEqual(['a']);
    expect(s.push('c\r\nd\n\n')).toEqual(['bc', 'd', '']);
    expect(s.push('e')).toEqual([]);
    expect(s.flush()).toEqual(['e']);
    expect(s.flush()).toEqual([]);
  });
  it('does not break multi-byte characters split between chunks', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('✓ ok\n');
    expect(s.push(bytes.subarray(0, 2))).toEqual([]);
    expect(s.push(bytes.subarray(2))).toEqual(['✓ ok']);
  });
});

describe('formatLogLine', () => {
  const t = new Date(2026, 0, 2, 3, 4, 5, 6).getTime();

  it('compacts a pino line to time level msg fields', () => {
    const line = JSON.stringify({ level: 30, time: t, pid: 1, hostname: 'h', service: 'vault', msg: 'listening', port: 50051, addr: 'a b' });
    expect(formatLogLine(line)).toEqual(['03:04:05.006 INFO  listening port=50051 addr="a b"']);
  });
  it('puts an error stack on the following lines', () => {
    const line = JSON.stringify({ level: 50, time: t, msg: 'failed', err: { type: 'Error', message: 'x', stack: 'Error: x\n    at f (a.ts:1:1)' } });
    expect(formatLogLine(line)).toEqual(['03:04:05.006 ERROR failed', '    Error: x', '        at f (a.ts:1:1)']);
  });
  it('handles string levels and objects as fields', () => {
    const line = JSON.stringify({ level: 'warn', time: t, msg: 'slow', q: { ms: 3 } });
    expect(formatLogLine(line)).toEqual(['03:04:05.006 WARN  slow q={"ms":3}']);
  });
  it.each(['plain text', '{not json}', '{"a":1}', '[1,2]', '  '])('leaves %j unchanged', (line) => {
    expect(formatLogLine(line)).toEqual([line]);
  });
  it('uses the palette', () => {
    const line = JSON.stringify({ level: 40, time: t, msg: 'm', k: 1 });
    const out = formatLogLine(line, { dim: (s) => `<${s}>`, level: (l, s) => `[${l}:${s}]` });
    expect(out).toEqual(['<03:04:05.006> [WARN:WARN ] m <k=1>']);
  });
});

describe('prefixLine', () => {
  it('pads the name to a fixed width', () => {
    expect(prefixLine('vault', 15, 'hi')).toBe('vault           │ hi');
    expect(prefixLine('document-ingest', 15, 'hi', (s) => `*${s}*`)).toBe('*document-ingest* │ hi');
  });
});

describe('Tail', () => {
  it('keeps the last n lines', () => {
    const tail = new Tail(2);
    ['a', 'b', 'c'].forEach((l) => tail.push(l));
    expect(tail.lines).toEqual(['b', 'c']);
  });
});

describe('formatDuration', () => {
  it('shows tenths below 10 s', () => {
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(12_600)).toBe('13 s');
  });
});
