import { AppError } from '@csda/errors';

/**
 * Why the egress guard refused a URL or an address. Address reasons name the
 * range the address falls in; the others name what was wrong with the URL.
 */
export type EgressRefusalReason =
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'carrier_grade_nat'
  | 'unique_local'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'reserved'
  | 'embedded_ipv4'
  | 'metadata'
  | 'invalid_address'
  | 'invalid_url'
  | 'scheme'
  | 'insecure_http'
  | 'userinfo'
  | 'not_allowed_host';

/**
 * The SSRF guard refused a destination: a non-public address that is not
 * allow-listed, or a URL the guard never sends to (non-http(s) scheme,
 * credentials in the URL, plain http when https is required). Raised before
 * any connection to the refused address is attempted.
 *
 * An `AppError` with code VALIDATION_ERROR: the destination is what is wrong,
 * and retrying does not help. The message names the host and the address
 * (both given by the caller or their DNS), never the URL's path or query,
 * which may carry tokens.
 */
export class EgressRefusedError extends AppError {
  readonly reason: EgressRefusalReason;
  readonly host: string;

  constructor(reason: EgressRefusalReason, host: string, message: string) {
    super('VALIDATION_ERROR', message, { details: { reason, host } });
    this.reason = reason;
    this.host = host;
  }
}

/** How an HTTP exchange failed after the guard let it through. */
export type HttpFailureKind = 'timeout' | 'connection' | 'too_large' | 'protocol' | 'redirects';

/**
 * An HTTP exchange through the guarded client failed: the whole request ran
 * past its deadline, the connection (DNS, TCP or TLS) failed, the response
 * body exceeded its cap, the peer spoke broken HTTP, or (HTTP tool) it
 * redirected more often than allowed. An `AppError` with
 * code EXTERNAL_SERVICE_ERROR. The message names the host only; `cause` keeps
 * the underlying error for logs.
 */
export class HttpRequestError extends AppError {
  readonly kind: HttpFailureKind;
  readonly host: string;

  constructor(kind: HttpFailureKind, host: string, message: string, cause?: unknown) {
    super('EXTERNAL_SERVICE_ERROR', message, { details: { kind, host }, cause });
    this.kind = kind;
    this.host = host;
  }
}
