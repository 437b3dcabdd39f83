import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { buildConnector } from 'undici';
import { checkAddress, normalizeHost } from './address-policy.ts';
import type { AllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';

/** Resolves a host name to every address it has (the guard checks each one). */
export type Resolver = (host: string) => Promise<readonly { address: string; family: 4 | 6 }[]>;

/** The default resolver: the system's (`dns.lookup`, `/etc/hosts` included), every address, in its order. */
export const systemResolver: Resolver = async (host) => {
  const answers = await lookup(host, { all: true, order: 'verbatim' });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

/** What the guard decides on, per connection. */
export interface EgressPolicy {
  readonly allow: AllowList;
  readonly requireHttps: boolean;
  readonly allowHttpForAllowListed: boolean;
  /**
   * Replaces `checkAddress(host, address, allow)` for every address (IP
   * literals included): throws EgressRefusedError to refuse. The HTTP tool
   * uses it to require both its own and the operator's allow list.
   */
  readonly check?: (host: string, address: string) => void;
}

/** The address decision of `policy`: its own check, or the operator allow list's. */
export function checkPolicyAddress(policy: EgressPolicy, host: string, address: string): void {
  if (policy.check) policy.check(host, address);
  else checkAddress(host, address, policy.allow);
}

/**
 * Opens the socket to an address the guard has checked: undici's connector
 * contract, called with `hostname` set to that address and `servername` to
 * the name TLS verifies. The default is undici's own connector; tests inject
 * one that records targets and refuses anything but loopback.
 */
export type Dial = buildConnector.connector;

export interface GuardedConnectorDeps {
  readonly policy: EgressPolicy;
  readonly resolver: Resolver;
  readonly dial: Dial;
  /** Bound on name resolution (a connector cannot be cancelled while it resolves). */
  readonly resolveTimeoutMs: number;
}

/**
 * The undici connector that makes the SSRF decision: it resolves the host
 * once, refuses the connection unless every address passes `checkAddress`
 * (IP-literal hosts are checked as they are, since no lookup happens for
 * them), then dials one of exactly those addresses — never a name, so no
 * second resolution can rebind it. For plain http it also enforces that an
 * allow-listed destination is what it reaches.
 */
export function createGuardedConnector(deps: GuardedConnectorDeps): buildConnector.connector {
  return (options, callback) => {
    checkedAddresses(deps, options.hostname, options.protocol).then(
      (addresses) => dialInTurn(deps.dial, options, addresses, callback),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };
}

/** Every address `hostname` resolves to, each one checked; throws EgressRefusedError on the first refused. */
export async function checkedAddresses(
  deps: Pick<GuardedConnectorDeps, 'policy' | 'resolver' | 'resolveTimeoutMs'>,
  hostname: string,
  protocol: string,
): Promise<readonly { address: string; family: 4 | 6 }[]> {
  const host = normalizeHost(hostname);
  const literal = isIP(host);
  const addresses = literal !== 0 ? [{ address: host, family: literal as 4 | 6 }] : await resolve(deps, hostname, host);
  if (addresses.length === 0) throw new HttpRequestError('connection', host, `${host} did not resolve to any address`);
  const { allow, requireHttps, allowHttpForAllowListed } = deps.policy;
  for (const { address } of addresses) {
    checkPolicyAddress(deps.policy, host, address);
    // Plain http (when https is required) passes only for allow-listed
    // destinations: the name itself, or else each address it reaches.
    const httpPermitted = !requireHttps || (allowHttpForAllowListed && (allow.allowsHost(host) || allow.allowsAddress(address)));
    if (protocol === 'http:' && !httpPermitted) {
      throw new EgressRefusedError('insecure_http', host, `plain http to ${host} is refused; use https`);
    }
  }
  return addresses;
}

async function resolve(deps: Pick<GuardedConnectorDeps, 'resolver' | 'resolveTimeoutMs'>, hostname: string, host: string) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpRequestError('timeout', host, `resolving ${host} took longer than ${deps.resolveTimeoutMs} ms`)),
      deps.resolveTimeoutMs,
    );
  });
  try {
    return await Promise.race([deps.resolver(hostname), timeout]);
  } catch (err) {
    if (err instanceof HttpRequestError) throw err;
    throw new HttpRequestError('connection', host, `could not resolve ${host}`, err);
  } finally {
    clearTimeout(timer);
  }
}

/** Codes after which the next checked address is worth a try (the first one was unreachable). */
const TRY_NEXT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function dialInTurn(
  dial: Dial,
  options: buildConnector.Options,
  addresses: readonly { address: string; family: 4 | 6 }[],
  callback: buildConnector.Callback,
): void {
  const host = normalizeHost(options.hostname);
  // TLS verifies the certificate for the name asked for (SNI too); for an
  // IP-literal URL undici leaves servername empty and Node checks the address.
  const servername = options.servername || (isIP(host) === 0 ? host : undefined);
  const attempt = (index: number): void => {
    const target = addresses[index];
    if (target === undefined) return;
    dial({ ...options, hostname: target.address, ...(servername ? { servername } : {}) }, (err, socket) => {
      if (err && index + 1 < addresses.length && TRY_NEXT.has((err as { code?: string }).code ?? '')) {
        attempt(index + 1);
        return;
      }
      if (err) callback(err, null);
      else callback(null, socket as NonNullable<typeof socket>);
    });
  };
  attempt(0);
}
