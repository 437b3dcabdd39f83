import { describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';

describe('parseAllowList', () => {
  it('allows nothing when empty', () => {
    for (const value of ['', ' ', ',', ' , ']) {
      const allow = parseAllowList(value);
      expect(allow.entries).toEqual([]);
      expect(allow.allowsAddress('127.0.0.1')).toBe(false);
      expect(allow.allowsHost('localhost')).toBe(false);
      expect(allow.allowsHost('')).toBe(false);
    }
  });

  it('normalizes entries', () => {
    const allow = parseAllowList(' 10.1.2.3/8 ,127.0.0.1, ::1, [fd00::1], FD12:3456::/32, Hooks.Internal., *.Corp.Example, ::ffff:192.168.0.0/112, bücher.example');
    expect(allow.entries).toEqual([
      '10.0.0.0/8',
      '127.0.0.1/32',
      '::1/128',
      'fd00::1/128',
      'fd12:3456::/32',
      'hooks.internal',
      '*.corp.example',
      '192.168.0.0/16',
      'xn--bcher-kva.example',
    ]);
    expect(Object.isFrozen(allow.entries)).toBe(true);
  });

  it('matches addresses by CIDR, IPv4-mapped forms as their IPv4', () => {
    const allow = parseAllowList('10.0.0.0/8, 127.0.0.1, fd12:3456::/32, ::ffff:192.168.0.0/112');
    expect(allow.allowsAddress('10.255.0.1')).toBe(true);
    expect(allow.allowsAddress('::ffff:10.0.0.1')).toBe(true);
    expect(allow.allowsAddress('[::ffff:a00:1]')).toBe(true);
    expect(allow.allowsAddress('127.0.0.1')).toBe(true);
    expect(allow.allowsAddress('127.0.0.2')).toBe(false);
    expect(allow.allowsAddress('fd12:3456:ffff::1')).toBe(true);
    expect(allow.allowsAddress('fd12:3457::1')).toBe(false);
    expect(allow.allowsAddress('192.168.44.1')).toBe(true);
    expect(allow.allowsAddress('11.0.0.1')).toBe(false);
    // A NAT64 or 6to4 form of an allowed IPv4 is not that IPv4.
    expect(allow.allowsAddress('64:ff9b::a00:1')).toBe(false);
    expect(allow.allowsAddress('2002:a00:1::')).toBe(false);
    // Only real addresses match.
    expect(allow.allowsAddress('10.1')).toBe(false);
    expect(allow.allowsAddress('167772161')).toBe(false);
    expect(allow.allowsAddress('not-an-ip')).toBe(false);
  });

  it('matches host names exactly or below a wildcard, case- and root-dot-insensitively', () => {
    const allow = parseAllowList('hooks.internal, *.corp.example, 10.0.0.0/8');
    expect(allow.allowsHost('hooks.internal')).toBe(true);
    expect(allow.allowsHost('HOOKS.INTERNAL.')).toBe(true);
    expect(allow.allowsHost('x.hooks.internal')).toBe(false);
    expect(allow.allowsHost('hooks.internal.evil.example')).toBe(false);
    expect(allow.allowsHost('a.corp.example')).toBe(true);
    expect(allow.allowsHost('a.b.corp.example')).toBe(true);
    expect(allow.allowsHost('corp.example')).toBe(false);
    expect(allow.allowsHost('evilcorp.example')).toBe(false);
    expect(allow.allowsHost('.corp.example')).toBe(false);
    // IP-literal hosts are judged as addresses.
    expect(allow.allowsHost('10.2.3.4')).toBe(true);
    expect(allow.allowsHost('[::ffff:10.2.3.4]')).toBe(true);
    expect(allow.allowsHost('11.2.3.4')).toBe(false);
  });

  it.each([
    ['10.0.0.0/33', '10.0.0.0/33'],
    ['10.0.0.0/-1', '10.0.0.0/-1'],
    ['10.0.0.0/8/8', '10.0.0.0/8/8'],
    ['10.0.0/8', '10.0.0/8'],
    ['fd00::/129', 'fd00::/129'],
    ['::ffff:10.0.0.0/90', '::ffff:10.0.0.0/90'],
    ['*', '*'],
    ['*.', '*.'],
    ['a.*.example', 'a.*.example'],
    ['**.example', '**.example'],
    ['exa mple.com', 'exa mple.com'],
    ['-bad.example', '-bad.example'],
    ['bad-.example', 'bad-.example'],
    ['a..example', 'a..example'],
    ['127.1', '127.1'],
    ['0x7f.1', '0x7f.1'],
    ['2130706433', '2130706433'],
    ['http://hooks.example', 'http://hooks.example'],
    ['hooks.example:8443', 'hooks.example:8443'],
    [`${'a'.repeat(64)}.example`, 'a'.repeat(64)],
  ])('refuses %s, naming it', (value, named) => {
    expect(() => parseAllowList(`ok.example, ${value}`)).toThrow(named);
  });
});
