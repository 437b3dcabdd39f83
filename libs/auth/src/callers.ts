/**
 * The one table of which services may call which (DESIGN.md "Talking"):
 * callee → the issuers whose tokens it accepts. The gateway carries users'
 * requests everywhere; services calling on their own behalf appear only where
 * the design needs them. NetworkPolicies in the Helm chart mirror it.
 */
export const TRUSTED_CALLERS = Object.freeze({
  gateway: Object.freeze(['gateway', 'scheduler']),
  vault: Object.freeze(['gateway', 'scheduler', 'tool-runner']),
  'tool-runner': Object.freeze(['gateway', 'scheduler']),
  'document-ingest': Object.freeze(['gateway', 'scheduler']),
  search: Object.freeze(['gateway', 'document-ingest']),
  scheduler: Object.freeze(['gateway']),
} satisfies Record<string, readonly string[]>);

/** A service of the platform. */
export type ServiceName = keyof typeof TRUSTED_CALLERS;

/** Issuers `service` accepts tokens from. */
export function trustedCallers(service: string): readonly string[] {
  const callers = (TRUSTED_CALLERS as Record<string, readonly string[]>)[service];
  if (!callers) throw new TypeError(`Unknown service "${service}"`);
  return callers;
}

/** Every service that signs tokens of its own (the union of all callers). */
export const ISSUERS: readonly string[] = Object.freeze([...new Set(Object.values(TRUSTED_CALLERS).flat())]);
