import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { AllowList, Resolver } from '@csda/net';
import type pg from 'pg';

/*
 * Where the postgres strategy may connect. A secret's URL names any host and
 * port its owner likes, so without this the vault would open TCP connections
 * to internal services and metadata endpoints on a user's behalf: the host
 * goes through @csda/net's resolveChecked (resolved once, every address
 * public or allow-listed by the operator) and the client connects to one of
 * exactly those addresses. TLS still verifies the name from the URL.
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
