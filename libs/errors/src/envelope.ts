import { ConnectError } from '@connectrpc/connect';
import { AppError, isDatabaseDriverError } from './app-error.ts';
import { CODE_TABLE, type ErrorCode } from './codes.ts';
import { describeConnectError, type DescribedError } from './connect.ts';

/** The REST error body every gateway error uses. */
export interface ErrorEnvelope {
  error: {
    code: ErrorCode;
    message: string;
    details: Record<string, unknown>;
    request_id: string;
  };
}

export interface RenderedError {
  readonly status: number;
  readonly body: ErrorEnvelope;
}

/**
 * Maps any error to an HTTP status and the REST envelope, in one place.
 * Unknown errors become INTERNAL_ERROR; their message is shown only when
 * `exposeInternals` is true (development), never in production.
 */
export function renderError(err: unknown, requestId: string, exposeInternals: boolean): RenderedError {
  const described = describe(err, exposeInternals);
  const safeMessage =
    !exposeInternals && (described.code === 'INTERNAL_ERROR' || described.code === 'DATABASE_ERROR')
      ? genericMessage(described.code)
      : described.message;
  return {
    status: CODE_TABLE[described.code].http,
    body: { error: { code: described.code, message: safeMessage, details: { ...described.details }, request_id: requestId } },
  };
}

function describe(err: unknown, exposeInternals: boolean): DescribedError {
  if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof ConnectError) return describeConnectError(err);
  if (isDatabaseDriverError(err)) return { code: 'DATABASE_ERROR', message: exposeInternals && err instanceof Error ? err.message : genericMessage('DATABASE_ERROR'), details: {} };
  const message = exposeInternals && err instanceof Error ? err.message : genericMessage('INTERNAL_ERROR');
  return { code: 'INTERNAL_ERROR', message, details: {} };
}

function genericMessage(code: ErrorCode): string {
  return code === 'DATABASE_ERROR' ? 'A database error occurred' : 'An internal error occurred';
}
