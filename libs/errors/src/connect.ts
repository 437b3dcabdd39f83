import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorDetailSchema } from '@csda/proto/csda/common/v1/error_detail_pb.js';
import { AppError, isDatabaseDriverError } from './app-error.ts';
import { CODE_TABLE, errorCodeFromConnect, isErrorCode, type ErrorCode } from './codes.ts';

export interface DescribedError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: Readonly<Record<string, string>>;
}

const INTERNAL_MESSAGE = 'Internal error';

/**
 * Turns anything thrown inside an RPC handler into a ConnectError carrying a
 * CSDA ErrorDetail. AppErrors keep their message; anything else becomes
 * INTERNAL_ERROR, with its message exposed only when `exposeInternals` is set
 * (development). The original error stays available as `cause` for logs.
 */
export function toConnectError(err: unknown, exposeInternals: boolean): ConnectError {
  if (err instanceof ConnectError && err.findDetails(ErrorDetailSchema).length > 0) return err;
  const described = describeLocal(err, exposeInternals);
  const detail = create(ErrorDetailSchema, { code: described.code, details: { ...described.details } });
  return new ConnectError(described.message, CODE_TABLE[described.code].connect, undefined, [
    { desc: ErrorDetailSchema, value: detail },
  ], err);
}

function describeLocal(err: unknown, exposeInternals: boolean): DescribedError {
  if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
  if (isDatabaseDriverError(err)) return { code: 'DATABASE_ERROR', message: exposeInternals && err instanceof Error ? err.message : 'Database error', details: {} };
  if (err instanceof ConnectError) {
    const code = errorCodeFromConnect(err.code);
    return { code, message: code === 'INTERNAL_ERROR' && !exposeInternals ? INTERNAL_MESSAGE : err.rawMessage, details: {} };
  }
  const message = exposeInternals && err instanceof Error ? err.message : INTERNAL_MESSAGE;
  return { code: 'INTERNAL_ERROR', message, details: {} };
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

export { Code };
