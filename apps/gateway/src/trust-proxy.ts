import { isIP } from 'node:net';

/** Address ranges proxy-addr (Fastify's `trustProxy`) knows by name. */
const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Problems with one TRUST_PROXY entry: an IPv4/IPv6 address, a CIDR
 * (`10.0.0.0/8`, `fd00::/8`) or one of proxy-addr's names; empty when fine.
 */
function entryProblem(entry: string): string | undefined {
  if (NAMED.has(entry)) return undefined;
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `"${entry}" is not an address or CIDR`;
  if (prefix === undefined) return undefined;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  return bits >= 0 && bits <= (family === 4 ? 32 : 128) ? undefined : `"${entry}" has an invalid prefix length`;
}

/**
 * TRUST_PROXY: `false` (the default: X-Forwarded-For is ignored), `true`
 * (every hop is trusted: only behind a proxy that overwrites the header), or
 * a comma-separated list of the proxies' addresses/CIDRs (e.g. the ingress
 * controller's pod network): X-Forwarded-For is then read only as far back
 * as the hops are trusted, so the client address (audit `ip`, login
 * throttling) is the first untrusted one and an untrusted peer's header is
 * ignored. Returns the problems, or the normalized setting.
 */
export function parseTrustProxy(value: string): { readonly setting: boolean | string } | { readonly problems: string[] } {
  const text = value.trim();
  if (text === 'true') return { setting: true };
  if (text === 'false' || text === '') return { setting: false };
  const entries = text.split(',').map((e) => e.trim());
  const problems = entries.map((e) => (e === '' ? 'empty entry' : entryProblem(e))).filter((p): p is string => p !== undefined);
  return problems.length ? { problems } : { setting: entries.join(',') };
}
