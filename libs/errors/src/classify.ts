import { ConnectError } from '@connectrpc/connect';
import { ErrorDetailSchema } from '@csda/proto/csda/common/v1/error_detail_pb.js';
import { AppError, isDatabaseDriverError } from './app-error.ts';
import { errorCodeFromConnect, isErrorCode, type ErrorCode } from './codes.ts';

export interface DescribedError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: Readonly<Record<string, string>>;
}

/**
 * What a caller reads instead of the error's own text for the codes whose
 * text is internal (a stack-ish message, a driver's SQL detail), unless
 * internals are exposed (development). The same on REST and across Connect.
 */
export const GENERIC_MESSAGES = {
  INTERNAL_ERROR: 'An internal error occurred',
  DATABASE_ERROR: 'A database error occurred',
} as const satisfies Partial<Record<ErrorCode, string>>;

const hidesText = (code: ErrorCode): code is keyof typeof GENERIC_MESSAGES => code in GENERIC_MESSAGES;

/**
 * The one decision for anything thrown: its envelope code, its details, and
 * the message a caller may see. AppErrors keep their code; PostgreSQL driver
 * errors are DATABASE_ERROR; a Connect error is read as its callee said;
 * anything else is INTERNAL_ERROR. INTERNAL_ERROR and DATABASE_ERROR show
 * their own message only when `exposeInternals` is set.
 */
export function classifyError(err: unknown, exposeInternals: boolean): DescribedError {
  const described = describeRaw(err);
  return hidesText(described.code) && !exposeInternals ? { ...described, message: GENERIC_MESSAGES[described.code] } : described;
}

function describeRaw(err: unknown): DescribedError {
  if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof ConnectError) return describeConnectError(err);
  const code = isDatabaseDriverError(err) ? 'DATABASE_ERROR' : 'INTERNAL_ERROR';
  return { code, message: err instanceof Error ? err.message : GENERIC_MESSAGES[code], details: {} };
}

/**
 * Reads what a remote CSDA service said went wrong. Used by callers (the
 * gateway) to render the REST envelope. Errors without an ErrorDetail (a
 * network failure, a foreign server) map from their Connect code.
 */
export function describeConnectError(err: ConnectError): DescribedError {
  const [detail] = err.findDetails(ErrorDetailSchema);
  if (detail && isErrorCode(detail.code)) {
    return { code: detail.code, message: err.rawMessage, details: { ...detail.details } };
  }
  const code = errorCodeFromConnect(err.code);
  const message = code === 'EXTERNAL_SERVICE_ERROR' ? 'A backend service is unavailable' : err.rawMessage;
  return { code, message, details: {} };
}
