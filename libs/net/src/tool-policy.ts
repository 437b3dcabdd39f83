import { isIP } from 'node:net';
import { classifyAddress, normalizeHost, parseAddress } from './address-policy.ts';
import { parseAllowList, type AllowList } from './allow-list.ts';
import { EgressRefusedError } from './errors.ts';
import { checkedAddresses, systemResolver, type EgressPolicy, type Resolver } from './guarded-connector.ts';
import { validateTarget, type EgressTarget } from './guarded-http.ts';

/**
 * A tool's `allow_hosts`, parsed: each entry in parseAllowList syntax (a
 * host name, `*.domain`, an address or a CIDR). Throws an Error naming the
 * first bad entry, for a 422 when the tool is saved.
 */
export interface ToolAllowHosts {
  readonly list: AllowList;
  /** True when allow_hosts is empty: any public host, nothing else. */
  readonly empty: boolean;
  /** True when some entry is an address or CIDR (a name may then be judged by what it resolves to). */
  readonly hasAddresses: boolean;
}

export function parseToolAllowHosts(entries: readonly string[]): ToolAllowHosts {
  for (const entry of entries) {
    if (typeof entry !== 'string' || entry.includes(',')) throw new Error(`Invalid allow_hosts entry ${JSON.stringify(entry)}: one host, address or CIDR per entry`);
    parseAllowList(entry);
  }
  const list = parseAllowList(entries.join(','));
  return { list, empty: list.entries.length === 0, hasAddresses: list.entries.some((e) => e.includes('/')) };
}

/** The operator list's name in messages. */
const OPERATOR_LIST = 'TOOLS_HTTP_ALLOW';

/**
 * The HTTP tool's decision for one address `host` resolved to:
 *  - a non-empty allow_hosts restricts the tool to the hosts (or addresses)
 *    it lists, public or not;
 *  - a public address passes (within that restriction);
 *  - a non-public address passes only when the tool's allow_hosts lists the
 *    host or address AND the operator's list permits the host or address.
 */
export function toolAddressCheck(tool: ToolAllowHosts, operator: AllowList): (host: string, address: string) => void {
  return (rawHost, address) => {
    const host = normalizeHost(rawHost);
    const refusal = classifyAddress(address);
    const subject = describe(host, address);
    if (refusal?.reason === 'invalid_address') {
      throw new EgressRefusedError('invalid_address', host, `host ${host} resolves to ${normalizeHost(address)}, which is not a valid IP address`);
    }
    const toolHit = tool.list.allowsHost(host) || tool.list.allowsAddress(address);
    if (!tool.empty && !toolHit) {
      const literal = isIP(host) !== 0;
      throw notListed(host, { is: literal ? subject.is : `host ${host} (resolving to ${normalizeHost(address)}) is` });
    }
    if (refusal === undefined) return;
    const operatorHit = operator.allowsHost(host) || operator.allowsAddress(address);
    if (toolHit && operatorHit) return;
    const missing = !toolHit && !operatorHit
      ? `neither the tool's allow_hosts nor the operator's ${OPERATOR_LIST} lists it`
      : !toolHit
        ? "the tool's allow_hosts does not list it"
        : `the operator's ${OPERATOR_LIST} does not permit it`;
    throw new EgressRefusedError(refusal.reason, host, `${subject.is} ${refusal.label} and not allow-listed (${missing})`);
  };
}

function notListed(host: string, subject: { is: string }): EgressRefusedError {
  return new EgressRefusedError('not_allowed_host', host, `${subject.is} not in this tool's allow_hosts`);
}

/** "host 10.0.0.5 is" or "host db.internal resolves to 10.0.0.5, which is". */
function describe(host: string, address: string): { is: string } {
  const bare = normalizeHost(address);
  const ip = parseAddress(address);
  const shown = ip && ip.kind() === 'ipv4' && isIP(bare) === 6 ? `${bare} (${ip.toString()})` : bare;
  const same = isIP(host) !== 0 && (host === bare || parseAddress(host)?.toString() === ip?.toString());
  return { is: same ? `host ${shown} is` : `host ${host} resolves to ${shown}, which is` };
}

/** The guard policy of one HTTP tool call: http and https, the double allow list. */
export function toolPolicy(tool: ToolAllowHosts, operator: AllowList): EgressPolicy {
  return { allow: operator, requireHttps: false, allowHttpForAllowListed: true, check: toolAddressCheck(tool, operator) };
}

/**
 * The URL-level checks of one hop, before anything resolves: scheme,
 * credentials, backslashes and controls, IP literals against the double
 * allow list, and — when allow_hosts names hosts only — the host name
 * against allow_hosts (a name outside it is refused without a lookup).
 */
export function checkToolHop(url: string, tool: ToolAllowHosts, policy: EgressPolicy): EgressTarget {
  const target = validateTarget(url, policy);
  if (!tool.empty && !tool.hasAddresses && isIP(target.host) === 0 && !tool.list.allowsHost(target.host)) {
    throw notListed(target.host, { is: `host ${target.host} is` });
  }
  return target;
}

/**
 * The HTTP tool's whole decision for `url` without connecting: the hop
 * checks, then the host resolved (through `resolver`) and every address
 * judged. For validating a tool's URL when it is saved, and for corpus
 * tests. Redirects are judged when they happen.
 */
export async function checkToolDestination(
  url: string,
  options: { operatorAllow: AllowList; toolAllowHosts: readonly string[]; resolver?: Resolver; resolveTimeoutMs?: number },
): Promise<void> {
  const tool = parseToolAllowHosts(options.toolAllowHosts);
  const policy = toolPolicy(tool, options.operatorAllow);
  const target = checkToolHop(url, tool, policy);
  await checkedAddresses({ policy, resolver: options.resolver ?? systemResolver, resolveTimeoutMs: options.resolveTimeoutMs ?? 10_000 }, target.url.hostname, target.url.protocol);
}
