import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { AllowList } from './allow-list.ts';
import { EgressRefusedError, type EgressRefusalReason } from './errors.ts';

/** Why an address is not a public unicast address, in words for messages. */
export interface AddressRefusal {
  readonly reason: EgressRefusalReason;
  /** e.g. "a private address", "a 6to4 address embedding 10.0.0.1". */
  readonly label: string;
}

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

const IPV4_LABELS: Readonly<Record<string, AddressRefusal>> = {
  unspecified: { reason: 'unspecified', label: 'an unspecified ("this host") address' },
  broadcast: { reason: 'broadcast', label: 'the broadcast address' },
  multicast: { reason: 'multicast', label: 'a multicast address' },
  linkLocal: { reason: 'link_local', label: 'a link-local address' },
  loopback: { reason: 'loopback', label: 'a loopback address' },
  carrierGradeNat: { reason: 'carrier_grade_nat', label: 'a carrier-grade NAT (shared) address' },
  private: { reason: 'private', label: 'a private address' },
};

const IPV6_LABELS: Readonly<Record<string, AddressRefusal>> = {
  unspecified: { reason: 'unspecified', label: 'the unspecified address' },
  linkLocal: { reason: 'link_local', label: 'a link-local address' },
  multicast: { reason: 'multicast', label: 'a multicast address' },
  loopback: { reason: 'loopback', label: 'a loopback address' },
  uniqueLocal: { reason: 'unique_local', label: 'a unique-local (private) address' },
  deprecatedSiteLocal: { reason: 'private', label: 'a site-local (private) address' },
};

/**
 * Cloud metadata and host-agent endpoints. All but Azure's wire server are
 * already outside public unicast space; naming them makes the refusal
 * message say what was at stake.
 */
const METADATA_ADDRESSES: Readonly<Record<string, string>> = {
  '169.254.169.254': 'the cloud metadata service',
  '169.254.170.2': 'the ECS task metadata service',
  'fd00:ec2::254': 'the EC2 metadata service',
  '100.100.100.200': 'the Alibaba Cloud metadata service',
  '168.63.129.16': 'the Azure host agent (wire server)',
};

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * Parses an IP address as a resolver or the URL parser hands it over:
 * canonical dotted-quad IPv4 or IPv6 (brackets and a zone id tolerated).
 * Shorthand IPv4 forms ("127.1", "0x7f.1") are not addresses here; the URL
 * parser has already turned them into dotted quads.
 */
export function parseAddress(address: string): IPv4 | IPv6 | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const withoutZone = bare.includes('%') ? bare.slice(0, bare.indexOf('%')) : bare;
  if (isIP(withoutZone) === 0) return undefined;
  // process() turns IPv4-mapped IPv6 (::ffff:a.b.c.d) into the IPv4 it carries.
  return ipaddr.process(withoutZone);
}

/**
 * Why `address` is not a public unicast address, or `undefined` when it is
 * one. Only ipaddr.js's `unicast` range passes, and for IPv6 only inside the
 * global unicast block 2000::/3 (which leaves out IPv4-compatible ::a.b.c.d
 * and every other unassigned or special prefix). IPv4-mapped addresses are
 * judged as the IPv4 address they carry.
 */
export function classifyAddress(address: string): AddressRefusal | undefined {
  const ip = parseAddress(address);
  if (!ip) return { reason: 'invalid_address', label: 'not a valid IP address' };
  const base = ip.kind() === 'ipv4' ? classifyV4(ip as IPv4) : classifyV6(ip as IPv6);
  const metadata = METADATA_ADDRESSES[ip.toString()];
  if (metadata === undefined) return base;
  if (base === undefined) return { reason: 'metadata', label: `the address of ${metadata}` };
  return { reason: base.reason, label: `${base.label} (${metadata})` };
}

function classifyV4(ip: IPv4): AddressRefusal | undefined {
  const range: string = ip.range();
  if (range === 'unicast') return undefined;
  return IPV4_LABELS[range] ?? { reason: 'reserved', label: `a reserved address (${range})` };
}

function classifyV6(ip: IPv6): AddressRefusal | undefined {
  const range: string = ip.range();
  const embedded = embeddedIpv4(ip, range);
  if (embedded) {
    return { reason: 'embedded_ipv4', label: `${embedded.form} address embedding ${embedded.address}` };
  }
  if (range === 'unicast') {
    return ip.match(GLOBAL_UNICAST_V6) ? undefined : { reason: 'reserved', label: 'an address outside global unicast space' };
  }
  return IPV6_LABELS[range] ?? { reason: 'reserved', label: `a reserved address (${range})` };
}

/**
 * Translation and tunnel forms that carry an IPv4 address (6to4, Teredo,
 * NAT64, SIIT, IPv4-compatible). Refused whatever they embed: an operator
 * who needs one allow-lists it.
 */
function embeddedIpv4(ip: IPv6, range: string): { form: string; address: string } | undefined {
  const p = ip.parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const last32 = () => v4(p[6] ?? 0, p[7] ?? 0);
  switch (range) {
    case '6to4':
      return { form: 'a 6to4', address: v4(p[1] ?? 0, p[2] ?? 0) };
    case 'teredo':
      // The Teredo client address is stored bit-inverted in the last 32 bits.
      return { form: 'a Teredo', address: v4(~(p[6] ?? 0) & 0xffff, ~(p[7] ?? 0) & 0xffff) };
    case 'rfc6052':
      return { form: 'a NAT64', address: last32() };
    case 'rfc6145':
      return { form: 'an IPv4-translated', address: last32() };
    case 'unicast':
      if (p.slice(0, 6).every((part) => part === 0)) return { form: 'an IPv4-compatible', address: last32() };
      return undefined;
    default:
      return undefined;
  }
}

/** Strips the brackets of an IPv6 literal host and a DNS root dot, and lowercases. */
export function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return (bare.endsWith('.') ? bare.slice(0, -1) : bare).toLowerCase();
}

/**
 * Throws an `EgressRefusedError` unless `address` is a public unicast address,
 * or the operator allow-listed the host or the address. `host` is the name the
 * caller asked for (it may be the address itself, for IP-literal URLs).
 */
export function checkAddress(host: string, address: string, allow: AllowList): void {
  const refusal = classifyAddress(address);
  if (refusal === undefined) return;
  if (refusal.reason !== 'invalid_address' && (allow.allowsHost(host) || allow.allowsAddress(address))) return;
  throw new EgressRefusedError(refusal.reason, normalizeHost(host), refusalMessage(host, address, refusal));
}

function refusalMessage(host: string, address: string, refusal: AddressRefusal): string {
  const shownHost = normalizeHost(host);
  const ip = parseAddress(address);
  const bare = normalizeHost(address);
  // Show what an IPv4-mapped address unwraps to: "::ffff:7f00:1 (127.0.0.1)".
  const shownAddress = ip && ip.kind() === 'ipv4' && isIP(bare) === 6 ? `${bare} (${ip.toString()})` : bare;
  if (refusal.reason === 'invalid_address') return `${shownHost} resolves to ${shownAddress}, which is not a valid IP address`;
  const sameAsHost = isIP(shownHost) !== 0 && (shownHost === bare || parseAddress(shownHost)?.toString() === ip?.toString());
  const subject = sameAsHost ? `${shownAddress} is` : `${shownHost} resolves to ${shownAddress},`;
  return `${subject} ${refusal.label}; allow-list it to permit`;
}
