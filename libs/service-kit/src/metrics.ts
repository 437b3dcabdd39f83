import type { Interceptor } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rpcClientMetricsInterceptor } from './rpc-client.ts';

/** Latency buckets (seconds) of the CSDA duration histograms. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface Metrics {
  readonly registry: Registry;
  /** Server side: RPCs handled, by method and code. */
  readonly rpcInterceptor: Interceptor;
  /** Client side: RPCs made to other services, by callee service, method and code. */
  readonly rpcClientInterceptor: Interceptor;
  /** JetStream consumers: pending, redelivered, dead-lettered. */
  readonly consumers: ConsumerMetrics;
}

/** The RPC outcome as a label: `ok`, or the Connect code's name (`NotFound`, `Unavailable`…). */
export function codeLabel(err: unknown): string {
  return Code[ConnectError.from(err).code] ?? 'Unknown';
}

/** A Prometheus registry with process metrics, RPC (server and client) and consumer metrics. */
export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'csda_rpc_server_duration_seconds',
    help: 'Duration of handled RPCs.',
    labelNames: ['method', 'code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const total = new Counter({
    name: 'csda_rpc_server_handled_total',
    help: 'RPCs handled, by method and code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const rpcInterceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const end = duration.startTimer({ method });
    let code = 'ok';
    try {
      return await next(req);
    } catch (err) {
      code = codeLabel(err);
      throw err;
    } finally {
      end({ code });
      total.inc({ method, code });
    }
  };
  return { registry, rpcInterceptor, rpcClientInterceptor: rpcClientMetricsInterceptor(registry), consumers: createConsumerMetrics(registry) };
}

/** Labels of one JetStream consumer's series. */
export interface ConsumerLabels {
  readonly stream: string;
  readonly consumer: string;
}

/** What the server says about a consumer (the fields of JetStream's ConsumerInfo sampled here). */
export interface ConsumerState {
  readonly num_pending: number;
  readonly num_ack_pending: number;
}

export interface ConsumerMetrics {
  /**
   * Samples `state()` (JetStream consumer info) at scrape time for
   * `csda_consumer_pending_messages` / `_ack_pending_messages`, and starts the
   * counters at zero. Returns the function that stops tracking.
   */
  track(labels: ConsumerLabels, state: () => Promise<ConsumerState>): () => void;
  /** A message arrived with a delivery count above one. */
  redelivered(labels: ConsumerLabels): void;
  /** The loop gave up on a message and copied it to the dead-letter subject. */
  deadLettered(labels: ConsumerLabels, reason: 'exhausted' | 'permanent'): void;
}

const SAMPLE_TIMEOUT_MS = 1_000;
/** One consumer-info round trip serves both gauges of one scrape. */
const SAMPLE_REUSE_MS = 500;

function createConsumerMetrics(registry: Registry): ConsumerMetrics {
  const tracked = new Map<string, { labels: ConsumerLabels; state: () => Promise<ConsumerState> }>();
  let sample: { at: number; result: Promise<Map<string, ConsumerState | undefined>> } | undefined;
  const sampleAll = () => {
    if (!sample || Date.now() - sample.at > SAMPLE_REUSE_MS) {
      const entries = [...tracked];
      sample = {
        at: Date.now(),
        result: Promise.all(entries.map(async ([key, t]) => [key, await withTimeout(t.state(), SAMPLE_TIMEOUT_MS).catch(() => undefined)] as const)).then((r) => new Map(r)),
      };
    }
    return sample.result;
  };
  const gauge = (name: string, help: string, pick: (s: ConsumerState) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'consumer'],
      registers: [registry],
      async collect() {
        const states = await sampleAll();
        this.reset();
        for (const [key, state] of states) {
          const t = tracked.get(key);
          // A consumer the server did not describe in time has no sample rather than a stale one.
          if (t && state) this.set({ ...t.labels }, pick(state));
        }
      },
    });
  gauge('csda_consumer_pending_messages', 'Messages in the stream not yet delivered to this consumer (JetStream num_pending).', (s) => s.num_pending);
  gauge('csda_consumer_ack_pending_messages', 'Messages delivered to this consumer and not yet acknowledged (JetStream num_ack_pending).', (s) => s.num_ack_pending);
  const redelivered = new Counter({
    name: 'csda_consumer_redelivered_total',
    help: 'Messages received again after an earlier delivery (delivery count above one).',
    labelNames: ['stream', 'consumer'],
    registers: [registry],
  });
  const deadLettered = new Counter({
    name: 'csda_consumer_dead_lettered_total',
    help: 'Messages given up on and copied to the dead-letter subject, by reason.',
    labelNames: ['stream', 'consumer', 'reason'],
    registers: [registry],
  });
  return {
    track(labels, state) {
      const key = `${labels.stream}\u0000${labels.consumer}`;
      tracked.set(key, { labels, state });
      redelivered.inc({ ...labels }, 0);
      for (const reason of ['exhausted', 'permanent']) deadLettered.inc({ ...labels, reason }, 0);
      return () => {
        tracked.delete(key);
      };
    },
    redelivered: (labels) => redelivered.inc({ ...labels }),
    deadLettered: (labels, reason) => deadLettered.inc({ ...labels, reason }),
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
