import { describe, expect, it } from 'vitest';
import { checkAddress, classifyAddress } from './address-policy.ts';
import { parseAllowList } from './allow-list.ts';
import { EgressRefusedError } from './errors.ts';

const nothing = parseAllowList('');

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.0.0.7', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:10.0.0.7', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['169.254.170.2', 'link_local'],
    ['fe80::', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['100.64.0.1', 'carrier_grade_nat'],
    ['100.100.100.200', 'carrier_grade_nat'],
    ['fc00::', 'unique_local'],
    ['fd00:ec2::254', 'unique_local'],
    ['fec0::1', 'private'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['203.0.113.5', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['100::1', 'reserved'],
    ['5f00::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['64:ff9b::a00:1', 'embedded_ipv4'],
    ['64:ff9b::7f00:1', 'embedded_ipv4'],
    ['64:ff9b:1::a00:1', 'embedded_ipv4'],
    ['2002:a00:1::', 'embedded_ipv4'],
    ['2002:7f00:1::1', 'embedded_ipv4'],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'embedded_ipv4'],
    ['::7f00:1', 'embedded_ipv4'],
    ['::ffff:0:7f00:1', 'embedded_ipv4'],
    ['168.63.129.16', 'metadata'],
    ['127.1', 'invalid_address'],
    ['2130706433', 'invalid_address'],
    ['0x7f.0.0.1', 'invalid_address'],
    ['', 'invalid_address'],
    ['example.com', 'invalid_address'],
  ])('%s is refused as %s', (address, reason) => {
    expect(classifyAddress(address)?.reason).toBe(reason);
  });

  it.each(['93.184.215.14', '1.1.1.1', '8.8.8.8', '::ffff:8.8.8.8', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '[2606:4700::1]'])(
    '%s is public unicast',
    (address) => {
      expect(classifyAddress(address)).toBeUndefined();
    },
  );

  it('names the IPv4 address a translation form embeds', () => {
    expect(classifyAddress('2002:a00:1::')?.label).toBe('a 6to4 address embedding 10.0.0.1');
    expect(classifyAddress('64:ff9b::a00:1')?.label).toBe('a NAT64 address embedding 10.0.0.1');
    expect(classifyAddress('2001:0:4136:e378:8000:63bf:f5ff:fffe')?.label).toBe('a Teredo address embedding 10.0.0.1');
  });
});

describe('checkAddress', () => {
  it('refuses with a message that says what and how to permit it', () => {
    const err = catchRefusal(() => checkAddress('hooks.example', '10.0.0.7', nothing));
    expect(err.reason).toBe('private');
    expect(err.host).toBe('hooks.example');
    expect(err.message).toBe('hooks.example resolves to 10.0.0.7, a private address; allow-list it to permit');
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.details).toEqual({ reason: 'private', host: 'hooks.example' });
  });

  it('says what an IPv4-mapped literal unwraps to', () => {
    const err = catchRefusal(() => checkAddress('[::ffff:7f00:1]', '::ffff:7f00:1', nothing));
    expect(err.message).toBe('::ffff:7f00:1 (127.0.0.1) is a loopback address; allow-list it to permit');
  });

  it('names the metadata service', () => {
    expect(catchRefusal(() => checkAddress('169.254.169.254', '169.254.169.254', nothing)).message).toContain('cloud metadata service');
    expect(catchRefusal(() => checkAddress('x.example', 'fd00:ec2::254', nothing)).message).toContain('EC2 metadata service');
  });

  it('passes public addresses', () => {
    expect(() => checkAddress('example.com', '93.184.215.14', nothing)).not.toThrow();
    expect(() => checkAddress('example.com', '2606:4700:4700::1111', nothing)).not.toThrow();
  });

  it('passes what the operator allow-listed, by CIDR or by host name', () => {
    const allow = parseAllowList('10.20.0.0/16, hooks.internal, *.corp.example, fd12::/16');
    expect(() => checkAddress('anything.example', '10.20.3.4', allow)).not.toThrow();
    expect(() => checkAddress('anything.example', '::ffff:10.20.3.4', allow)).not.toThrow();
    expect(() => checkAddress('hooks.internal', '10.9.9.9', allow)).not.toThrow();
    expect(() => checkAddress('HOOKS.internal.', '127.0.0.1', allow)).not.toThrow();
    expect(() => checkAddress('a.b.corp.example', '192.168.0.1', allow)).not.toThrow();
    expect(() => checkAddress('x.example', 'fd12:1::1', allow)).not.toThrow();
    // Outside the entries: still refused.
    expect(catchRefusal(() => checkAddress('anything.example', '10.21.0.1', allow)).reason).toBe('private');
    expect(catchRefusal(() => checkAddress('corp.example', '10.9.9.9', allow)).reason).toBe('private');
    expect(catchRefusal(() => checkAddress('hooks.internal.evil', '10.9.9.9', allow)).reason).toBe('private');
    expect(catchRefusal(() => checkAddress('evilcorp.example', '10.9.9.9', allow)).reason).toBe('private');
  });

  it('never passes something that is not an address, allow-listed host or not', () => {
    const allow = parseAllowList('hooks.internal, 0.0.0.0/0');
    expect(catchRefusal(() => checkAddress('hooks.internal', 'hooks.internal', allow)).reason).toBe('invalid_address');
    expect(catchRefusal(() => checkAddress('x', '127.1', allow)).reason).toBe('invalid_address');
  });
});

function catchRefusal(fn: () => void): EgressRefusedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EgressRefusedError);
    return err as EgressRefusedError;
  }
  throw new Error('expected an EgressRefusedError');
}
