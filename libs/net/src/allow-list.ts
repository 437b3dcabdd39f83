import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { normalizeHost, parseAddress } from './address-policy.ts';

/**
 * The operator's exceptions to the SSRF guard: destinations that may be
 * reached although they are not public (an internal webhook receiver, a
 * database on a private network).
 */
export interface AllowList {
  /** True when the address (IPv4-mapped IPv6 judged as its IPv4) lies in an allow-listed CIDR. */
  allowsAddress(address: string): boolean;
  /**
   * True when the host name is allow-listed (exactly, or below a `*.` entry),
   * case-insensitively and ignoring a trailing dot. An IP-literal host is
   * judged by `allowsAddress`.
   */
  allowsHost(host: string): boolean;
  /** The entries as normalized: CIDRs in canonical form, names lowercased ASCII. */
  readonly entries: readonly string[];
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Parses the operator allow list: comma-separated entries, each a CIDR
 * (`10.20.0.0/16`, `fd12:3456::/48`), a single address (`10.0.0.7`, `::1`),
 * an exact host name (`hooks.internal`) or a wildcard below a domain
 * (`*.corp.example`: any subdomain, not the domain itself). Whitespace around
 * entries is ignored; `""` allows nothing. Throws an Error naming the first
 * bad entry. Allow-listing a name trusts every address it resolves to.
 */
export function parseAllowList(value: string): AllowList {
  const cidrs: Cidr[] = [];
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const entries: string[] = [];

  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry.includes('/') || isIP(entry) !== 0 || isIP(entry.replace(/^\[|\]$/g, '')) !== 0) {
      const cidr = parseCidrEntry(entry);
      cidrs.push(cidr);
      entries.push(`${cidr[0].toString()}/${cidr[1]}`);
      continue;
    }
    const name = parseHostEntry(entry);
    if (name.startsWith('*.')) suffixes.push(name.slice(1));
    else exact.add(name);
    entries.push(name);
  }

  const allowsAddress = (address: string): boolean => {
    const ip = parseAddress(address);
    if (!ip) return false;
    return cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
  };

  return Object.freeze({
    entries: Object.freeze([...entries]),
    allowsAddress,
    allowsHost(host: string): boolean {
      const name = normalizeHost(host);
      if (name === '') return false;
      if (isIP(name) !== 0) return allowsAddress(name);
      if (exact.has(name)) return true;
      return suffixes.some((suffix) => name.endsWith(suffix) && name.length > suffix.length);
    },
  });
}

function parseCidrEntry(entry: string): Cidr {
  const bad = (why: string) => new Error(`Invalid allow-list entry "${entry}": ${why}`);
  const [rawAddress = '', rawBits, ...rest] = entry.split('/');
  const address = rawAddress.replace(/^\[|\]$/g, '');
  const family = isIP(address);
  if (rest.length > 0 || family === 0) throw bad('expected an IPv4 or IPv6 address or CIDR');
  const maxBits = family === 4 ? 32 : 128;
  let bits = maxBits;
  if (rawBits !== undefined) {
    if (!/^\d{1,3}$/.test(rawBits) || Number(rawBits) > maxBits) throw bad(`prefix length must be 0-${maxBits}`);
    bits = Number(rawBits);
  }
  let ip: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are matched after unwrapping.
    if (bits < 96) throw bad('an IPv4-mapped prefix must be at least /96');
    ip = (ip as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  // Canonical network address: 10.1.2.3/8 is stored (and shown) as 10.0.0.0/8.
  const network = ip.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${ip.toString()}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${ip.toString()}/${bits}`);
  return [network, bits];
}

function parseHostEntry(entry: string): string {
  const bad = (why: string) => new Error(`Invalid allow-list entry "${entry}": ${why}`);
  const wildcard = entry.startsWith('*.');
  const rest = normalizeHost(wildcard ? entry.slice(2) : entry);
  if (rest.includes('*')) throw bad('a wildcard is only allowed as the first label ("*.example.com")');
  const ascii = domainToASCII(rest);
  if (ascii === '') throw bad('not a valid host name');
  const labels = ascii.split('.');
  if (!labels.every((label) => LABEL.test(label))) throw bad('not a valid host name');
  // The URL parser reads a name whose last label is numeric as an IPv4 address.
  if (/^(0x[0-9a-f]*|\d+)$/.test(labels[labels.length - 1] ?? '')) {
    throw bad('looks like an IP address; write addresses in dotted-decimal or CIDR form');
  }
  return wildcard ? `*.${ascii}` : ascii;
}
