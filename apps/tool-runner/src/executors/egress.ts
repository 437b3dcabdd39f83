import { createEgressProxy, type AllowList, type Dial, type EgressEvent, type EgressProxy, type Resolver } from '@csda/net';
import type { EgressStarter } from '@csda/sandbox';

/** What a network: true python or shell tool's egress proxy is made of. */
export interface EgressDeps {
  /** TOOLS_HTTP_ALLOW: non-public destinations the operator permits (the tool's allow_hosts must list them too). */
  readonly operatorAllow: AllowList;
  /** Name resolution and dialling, as for api_call; tests inject a table and a loopback-only dial. */
  readonly resolver?: Resolver;
  readonly connector?: Dial;
  /** Bytes through the proxy per execution, both directions. Default 64 MiB. */
  readonly maxBytes?: number;
}

export const DEFAULT_EGRESS_MAX_BYTES = 64 * 1024 * 1024;
const MAX_LINES = 20;
const MAX_WARNINGS = 5;

/** One execution's egress: the starter the sandbox calls, and what the proxy recorded once the run is over. */
export interface ExecutionEgress {
  readonly start: EgressStarter;
  /** Refusals, failures and cuts in order; empty when the proxy never started. */
  events(): readonly EgressEvent[];
  /** True when the program spoke to the proxy at all. */
  used(): boolean;
}

/** A proxy for one execution with the tool's allow_hosts and the operator's list, open as long as the run. */
export function executionEgress(deps: EgressDeps, toolAllowHosts: readonly string[], timeoutMs: number): ExecutionEgress {
  let proxy: EgressProxy | undefined;
  return {
    start: async (socketPath) => {
      proxy = createEgressProxy({
        operatorAllow: deps.operatorAllow,
        toolAllowHosts,
        ...(deps.resolver ? { resolver: deps.resolver } : {}),
        ...(deps.connector ? { connector: deps.connector } : {}),
        maxBytes: deps.maxBytes ?? DEFAULT_EGRESS_MAX_BYTES,
        requestTimeoutMs: timeoutMs,
      });
      await proxy.listen(socketPath);
      return proxy;
    },
    events: () => proxy?.events() ?? [],
    used: () => {
      const s = proxy?.stats();
      return s !== undefined && s.tunnels + s.requests + s.refused + s.failed > 0;
    },
  };
}

/** `[egress] refused CONNECT 127.0.0.1:5432: host 127.0.0.1 is a loopback address …`, one line per event, for stderr. */
export function egressLines(events: readonly EgressEvent[]): string {
  const lines = events.slice(0, MAX_LINES).map((e) => `[egress] ${e.kind} ${e.target}: ${e.message}`);
  if (events.length > MAX_LINES) lines.push(`[egress] … ${events.length - MAX_LINES} more`);
  return lines.join('\n');
}

/** The distinct refusals and cuts, for the execution's warnings (the program may have swallowed them). */
export function egressWarnings(events: readonly EgressEvent[]): string[] {
  const out = new Set<string>();
  for (const e of events) {
    if (e.kind === 'failed') continue;
    out.add(e.kind === 'cut' ? `egress ${e.message}` : `egress refused ${e.target}: ${e.message}`);
    if (out.size === MAX_WARNINGS) break;
  }
  return [...out];
}
