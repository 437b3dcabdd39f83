import pg from 'pg';
import type { Logger } from 'pino';

/**
 * PostgreSQL channels between replicas, sent by the repository in the same
 * statement as the change (so only once it commits). The payload is an
 * execution id and nothing else; a signal is only a hint to re-read.
 */
export const FINISHED_CHANNEL = 'tools_execution_finished';
export const CANCEL_CHANNEL = 'tools_execution_cancel';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ExecutionEventsOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly onFinished: (id: string) => void;
  readonly onCancel: (id: string) => void;
  /** Called when the connection comes up or drops: signals may have been missed meanwhile. */
  readonly onGap: () => void;
  /** Longest pause between reconnection attempts; default 10 s. */
  readonly maxBackoffMs?: number;
  /** Builds the client; default `new pg.Client(config)`. */
  readonly dial?: (config: pg.ClientConfig) => pg.Client;
}

export interface ExecutionEvents {
  /** True while the LISTEN connection is up. */
  listening(): boolean;
  /** Readiness detail; never fails readiness (waiters fall back to polling). */
  check(): Promise<{ ok: boolean; detail?: string }>;
  stop(): Promise<void>;
}

/**
 * One dedicated connection LISTENing for finished and cancelled executions
 * of every replica, reconnecting with back-off. While it is down, waiters and
 * the cancel watch poll at their short intervals instead.
 */
export function startExecutionEvents(options: ExecutionEventsOptions): ExecutionEvents {
  const { logger } = options;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const dial = options.dial ?? ((config) => new pg.Client(config));
  let client: pg.Client | undefined;
  let up = false;
  let stopped = false;
  let failures = 0;
  let lastError: string | undefined;
  let retry: NodeJS.Timeout | undefined;

  const down = (reason: string) => {
    if (stopped) return;
    const wasUp = up;
    up = false;
    lastError = reason;
    client?.removeAllListeners();
    client?.on('error', () => undefined);
    void client?.end().catch(() => undefined);
    client = undefined;
    if (wasUp) {
      logger.warn({ err: reason }, 'execution notifications lost; waiters poll until they are back');
      options.onGap();
    }
    failures += 1;
    retry = setTimeout(connect, Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 10)));
    retry.unref();
  };

  async function connect(): Promise<void> {
    retry = undefined;
    if (stopped) return;
    const c = dial({ connectionString: options.url, application_name: 'tool-runner-notifications' });
    client = c;
    c.on('error', (err) => down(err.message));
    c.on('end', () => down('connection closed'));
    c.on('notification', (n) => {
      const id = n.payload ?? '';
      if (!UUID.test(id)) return;
      if (n.channel === FINISHED_CHANNEL) options.onFinished(id);
      else if (n.channel === CANCEL_CHANNEL) options.onCancel(id);
    });
    try {
      await c.connect();
      await c.query(`listen ${FINISHED_CHANNEL}; listen ${CANCEL_CHANNEL}`);
    } catch (err) {
      if (client === c) down(err instanceof Error ? err.message : String(err));
      return;
    }
    if (stopped || client !== c) return;
    if (failures > 0) logger.info({ after_failures: failures }, 'execution notifications back');
    up = true;
    failures = 0;
    lastError = undefined;
    options.onGap();
  }

  void connect();

  return {
    listening: () => up,
    async check() {
      return { ok: true, detail: up ? 'listening' : `polling (notifications down${lastError ? `: ${lastError}` : ''})` };
    },
    async stop() {
      stopped = true;
      up = false;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}
