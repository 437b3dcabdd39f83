import { isIP } from 'node:net';
import type { AllowList } from './allow-list.ts';
import { checkAddress } from './address-policy.ts';
import { systemResolver, type Resolver } from './guarded-connector.ts';

/** Name resolution failed or took too long (worth a retry, as an unreachable server is). */
export class ResolutionError extends Error {
  readonly timedOut: boolean;
  readonly code: string | undefined;
  constructor(message: string, timedOut: boolean, code?: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ResolutionError';
    this.timedOut = timedOut;
    this.code = code;
  }
}

/**
 * The addresses a non-HTTP client (e.g. PostgreSQL) may connect to for
 * `host`: resolved once (an IP literal is its own only address), every one
 * checked with `checkAddress` against the operator's allow list. Connect to
 * one of exactly these, never to the name, so DNS rebinding cannot switch
 * it. Throws EgressRefusedError when any address is refused (a refused
 * address among them means the name points inside), before anything
 * connects; ResolutionError when the name does not resolve within `timeoutMs`.
 */
export async function resolveChecked(host: string, options: { readonly allow: AllowList; readonly resolver?: Resolver; readonly timeoutMs: number }): Promise<readonly string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(bare) !== 0 ? [bare] : (await resolve(options.resolver ?? systemResolver, bare, options.timeoutMs)).map((a) => a.address);
  if (addresses.length === 0) throw new ResolutionError(`${bare} did not resolve to any address`, false);
  for (const address of addresses) checkAddress(bare, address, options.allow);
  return addresses;
}

async function resolve(resolver: Resolver, host: string, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ResolutionError(`resolving ${host} took longer than ${timeoutMs} ms`, true)), timeoutMs);
  });
  try {
    return await Promise.race([resolver(host), timeout]);
  } catch (err) {
    if (err instanceof ResolutionError) throw err;
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
    throw new ResolutionError(`cannot resolve ${host}${code ? `: ${code}` : ''}`, false, code, err);
  } finally {
    clearTimeout(timer);
  }
}
