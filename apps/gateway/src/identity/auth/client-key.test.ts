import { describe, expect, it } from 'vitest';
import { clientKey } from './client-key.ts';

describe('login throttle client key', () => {
  it('keeps IPv4 addresses as they are', () => {
    expect(clientKey('192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('10.0.0.255')).toBe('10.0.0.255');
  });

  it('keys IPv6 clients by their /64, whatever the spelling', () => {
    const key = '2001:db8:1:2::/64';
    for (const ip of ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:DB8:1:2:0:0:0:9', '2001:db8:1:2::1%eth0', '2001:db8:1:2:a:b:192.0.2.1']) {
      expect(clientKey(ip), ip).toBe(key);
    }
    expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%lo0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('2001:db8::')).toBe('2001:db8:0:0::/64');
  });

  it('maps IPv4-mapped IPv6 addresses back to IPv4, so one client has one key', () => {
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('::FFFF:c000:0201')).toBe('192.0.2.1');
  });

  it('keeps what is no address as given', () => {
    expect(clientKey('')).toBe('');
    expect(clientKey('not-an-ip')).toBe('not-an-ip');
    expect(clientKey('2001:db8::1::2')).toBe('2001:db8::1::2');
  });
});
