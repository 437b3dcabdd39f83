import { CODE_TABLE, type ErrorCode } from './codes.ts';

export type ErrorDetails = Readonly<Record<string, string>>;

/**
 * Base of every error a CSDA service raises on purpose. `message` and
 * `details` are caller-facing and must never hold secrets or internals;
 * `cause` keeps the underlying error for logs only.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return CODE_TABLE[this.code].http;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super('VALIDATION_ERROR', message, { details });
  }
}

export class AuthenticationError extends AppError {
  constructor(message = 'Authentication required') {
    super('AUTHENTICATION_ERROR', message);
  }
}

export class AuthorizationError extends AppError {
  constructor(message = 'Not allowed') {
    super('AUTHORIZATION_ERROR', message);
  }
}

export class NotFoundError extends AppError {
  constructor(resource: string, identifier: string) {
    const label = resource.charAt(0).toUpperCase() + resource.slice(1);
    super('NOT_FOUND', `${label} ${identifier} not found`, { details: { resource, identifier } });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super('CONFLICT', message, { details });
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body is too large') {
    super('PAYLOAD_TOO_LARGE', message);
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', 'Too many requests', { details: { retry_after_s: String(retryAfterSeconds) } });
  }
}

export class ExternalServiceError extends AppError {
  constructor(service: string, cause?: unknown) {
    super('EXTERNAL_SERVICE_ERROR', `Service ${service} is unavailable`, { details: { service }, cause });
  }
}

/** A stored secret could not be decrypted (tampered row, missing key). Says nothing more, by design. */
export class VaultDecryptError extends AppError {
  constructor(secretId: string) {
    super('VAULT_DECRYPT_ERROR', 'Secret value could not be decrypted', { details: { resource: 'secret', identifier: secretId } });
  }
}

/**
 * True for errors raised by the PostgreSQL driver (they carry a 5-character
 * SQLSTATE `code` and a `severity`), so they map to DATABASE_ERROR rather
 * than INTERNAL_ERROR — with the driver's text kept out of responses.
 */
export function isDatabaseDriverError(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}
