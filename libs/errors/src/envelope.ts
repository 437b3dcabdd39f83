import { classifyError } from './classify.ts';
import { CODE_TABLE, type ErrorCode } from './codes.ts';

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
 * Maps any error to an HTTP status and the REST envelope, classified as
 * toConnectError classifies it (classifyError): unknown errors become
 * INTERNAL_ERROR, their message shown only when `exposeInternals` is true.
 */
export function renderError(err: unknown, requestId: string, exposeInternals: boolean): RenderedError {
  const described = classifyError(err, exposeInternals);
  return {
    status: CODE_TABLE[described.code].http,
    body: { error: { code: described.code, message: described.message, details: { ...described.details }, request_id: requestId } },
  };
}
