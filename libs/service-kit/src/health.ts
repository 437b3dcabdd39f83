import type { ServiceImpl } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Health} from '@csda/proto/grpc/health/v1/health_pb.js';
import { HealthCheckResponse_ServingStatus as Status } from '@csda/proto/grpc/health/v1/health_pb.js';

export interface CheckResult {
  readonly ok: boolean;
  readonly detail?: string;
}

/** A named readiness check: a dependency reachable, a schema current… */
export type ReadinessCheck = () => Promise<CheckResult>;

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, CheckResult>;
}

/**
 * Readiness of one service: ready when started, not shutting down, and every
 * check passes. Shared by HTTP /readyz and gRPC health so they never disagree.
 */
export interface HealthState {
  addCheck(name: string, check: ReadinessCheck): void;
  markStarted(): void;
  markStopping(): void;
  report(): Promise<ReadinessReport>;
}

const CHECK_TIMEOUT_MS = 2_000;

export function createHealthState(): HealthState {
  const checks = new Map<string, ReadinessCheck>();
  let phase: 'starting' | 'started' | 'stopping' = 'starting';
  return {
    addCheck(name, check) {
      checks.set(name, check);
    },
    markStarted() {
      if (phase === 'starting') phase = 'started';
    },
    markStopping() {
      phase = 'stopping';
    },
    async report() {
      const results: Record<string, CheckResult> = { lifecycle: { ok: phase === 'started', detail: phase } };
      await Promise.all(
        [...checks].map(async ([name, check]) => {
          results[name] = await runCheck(check);
        }),
      );
      return { ready: Object.values(results).every((r) => r.ok), checks: results };
    },
  };
}

async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: 'check timed out' }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch((err: unknown) => ({ ok: false, detail: errorText(err) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const WATCH_INTERVAL_MS = 1_000;

/** Health service name that answers SERVING while the process runs (liveness probes). */
export const LIVENESS_SERVICE = 'liveness';

/**
 * `grpc.health.v1.Health` for Kubernetes gRPC probes. The empty service name
 * and every name in `serviceNames` report readiness; `liveness` reports only
 * that the process answers, so a dependency outage never restarts pods.
 */
export function createHealthRpc(health: HealthState, serviceNames: readonly string[]): ServiceImpl<typeof Health> {
  const known = new Set(['', ...serviceNames]);
  const statusOf = async (service: string) => {
    if (service === LIVENESS_SERVICE) return Status.SERVING;
    if (!known.has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    return (await health.report()).ready ? Status.SERVING : Status.NOT_SERVING;
  };
  return {
    async check(req) {
      return { status: await statusOf(req.service) };
    },
    async *watch(req, ctx) {
      if (!known.has(req.service) && req.service !== LIVENESS_SERVICE) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = await statusOf(req.service);
        if (status !== last) yield { status };
        last = status;
        await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
      }
    },
  };
}
