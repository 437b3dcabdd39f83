import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { checkAddress, systemResolver, type AllowList, type Resolver } from '@csda/net';
import type pg from 'pg';

/*
 * Where the postgres strategy may connect. A secret's URL names any host and
 * port its owner likes, so without this the vault would open TCP connections
 * to internal services and metadata endpoints on a user's behalf. The host is
 * resolved once, every address it has must pass @csda/net's checkAddress
 * (public unicast, or allow-listed by the operator), and the client then
 * connects to one of exactly those addresses: a second lookup, which DNS
 * rebinding could answer differently, never happens. TLS still verifies the
 * name from the URL.
 */

/** The SSRF guard of the rotation's PostgreSQL connections. */
export interface PostgresEgress {
  /** Non-public destinations the operator permits (VAULT_POSTGRES_ALLOW); "" permits public addresses only. */
  readonly allow: AllowList;
  /** Name resolution; default the system's (`dns.lookup`, all addresses). Tests inject one. */
  readonly resolver?: Resolver;
  /** Builds the client for a checked address; default `new pg.Client(config)`. Tests inject one that records the target. */
  readonly dial?: (config: pg.ClientConfig) => pg.Client;
}

/** Name resolution failed or took too long (worth a retry, as an unreachable server is). */
export class TargetResolutionError extends Error {
  readonly timedOut: boolean;
  readonly code: string | undefined;
  constructor(message: string, timedOut: boolean, code?: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'TargetResolutionError';
    this.timedOut = timedOut;
    this.code = code;
  }
}

/**
 * The addresses to connect to for `host` (an IP literal is its own only
 * address), each checked with `checkAddress`. Throws EgressRefusedError
 * (from @csda/net) when any of them is refused, before anything connects;
 * TargetResolutionError when the name does not resolve within `timeoutMs`.
 */
export async function checkedTargets(host: string, egress: Pick<PostgresEgress, 'allow' | 'resolver'>, timeoutMs: number): Promise<readonly string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(bare) !== 0 ? [bare] : (await resolve(egress.resolver ?? systemResolver, bare, timeoutMs)).map((a) => a.address);
  if (addresses.length === 0) throw new TargetResolutionError(`${bare} did not resolve to any address`, false);
  // All of them, not just the one used: a refused address among them means the name points inside.
  for (const address of addresses) checkAddress(bare, address, egress.allow);
  return addresses;
}

async function resolve(resolver: Resolver, host: string, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TargetResolutionError(`resolving ${host} took longer than ${timeoutMs} ms`, true)), timeoutMs);
  });
  try {
    return await Promise.race([resolver(host), timeout]);
  } catch (err) {
    if (err instanceof TargetResolutionError) throw err;
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
    throw new TargetResolutionError(`cannot resolve ${host}${code ? `: ${code}` : ''}`, false, code, err);
  } finally {
    clearTimeout(timer);
  }
}

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/**
 * TLS options per libpq's sslmode for a connection to an address of `host`.
 * The client connects to the IP address, so the name to verify (and to send
 * as SNI) is given explicitly: verify-full checks the certificate against
 * `host` as written in the URL, never against the address.
 */
export function tlsFor(mode: SslMode, host: string): pg.ClientConfig['ssl'] {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  // SNI carries names only (RFC 6066); for an IP-literal URL the certificate must name that address.
  const sni = isIP(bare) === 0 ? { servername: bare.replace(/\.$/, '') } : {};
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false, ...sni };
    case 'verify-ca':
      return { rejectUnauthorized: true, ...sni, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true, ...sni, checkServerIdentity: (_ignored: string, cert: PeerCertificate) => checkServerIdentity(bare.replace(/\.$/, ''), cert) };
  }
}
