import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'password',
  'passwd',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'accessToken',
  'refreshToken',
  'authorization',
  'cookie',
  'apiKey',
  'api_key',
  'value',
  'privateKey',
  'private_key',
  'key',
  'keyring',
  'ciphertext',
  'plaintext',
];

/** Redaction paths for secret-looking fields at the top level and two levels down. */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'DATABASE_URL',
  'REDIS_URL',
];

export interface LoggerOptions {
  readonly service: string;
  readonly level: string;
  /** Where to write; defaults to stdout. Tests pass a stream to inspect output. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * The one JSON logger of a service: `service` on every line, the active trace
 * and span ids when there is one, secret-looking fields censored.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const ctx = span.spanContext();
        return { trace_id: ctx.traceId, span_id: ctx.spanId };
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
