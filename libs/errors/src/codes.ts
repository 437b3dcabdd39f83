import { Code } from '@connectrpc/connect';

/** The error codes of the REST envelope (DESIGN.md "REST API"). */
export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'AUTHENTICATION_ERROR',
  'AUTHORIZATION_ERROR',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'EXTERNAL_SERVICE_ERROR',
  'DATABASE_ERROR',
  'VAULT_DECRYPT_ERROR',
  'INTERNAL_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

interface CodeMapping {
  readonly http: number;
  readonly connect: Code;
}

/**
 * The one table that ties envelope codes, HTTP statuses and Connect codes
 * together. Services raise envelope codes; Connect carries them; the gateway
 * renders HTTP from them.
 */
export const CODE_TABLE: Readonly<Record<ErrorCode, CodeMapping>> = {
  VALIDATION_ERROR: { http: 422, connect: Code.InvalidArgument },
  AUTHENTICATION_ERROR: { http: 401, connect: Code.Unauthenticated },
  AUTHORIZATION_ERROR: { http: 403, connect: Code.PermissionDenied },
  NOT_FOUND: { http: 404, connect: Code.NotFound },
  CONFLICT: { http: 409, connect: Code.AlreadyExists },
  PAYLOAD_TOO_LARGE: { http: 413, connect: Code.OutOfRange },
  RATE_LIMITED: { http: 429, connect: Code.ResourceExhausted },
  EXTERNAL_SERVICE_ERROR: { http: 503, connect: Code.Unavailable },
  DATABASE_ERROR: { http: 500, connect: Code.Internal },
  VAULT_DECRYPT_ERROR: { http: 500, connect: Code.DataLoss },
  INTERNAL_ERROR: { http: 500, connect: Code.Internal },
};

/** Envelope code for a Connect code that arrived without a CSDA ErrorDetail. */
export function errorCodeFromConnect(code: Code): ErrorCode {
  switch (code) {
    case Code.InvalidArgument:
      return 'VALIDATION_ERROR';
    case Code.Unauthenticated:
      return 'AUTHENTICATION_ERROR';
    case Code.PermissionDenied:
      return 'AUTHORIZATION_ERROR';
    case Code.NotFound:
      return 'NOT_FOUND';
    case Code.AlreadyExists:
    case Code.Aborted:
    case Code.FailedPrecondition:
      return 'CONFLICT';
    case Code.OutOfRange:
      return 'PAYLOAD_TOO_LARGE';
    case Code.ResourceExhausted:
      return 'RATE_LIMITED';
    case Code.DataLoss:
      return 'VAULT_DECRYPT_ERROR';
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Canceled:
      return 'EXTERNAL_SERVICE_ERROR';
    default:
      return 'INTERNAL_ERROR';
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(value);
}
