import { isIP } from 'node:net';
import { getCACertificates } from 'node:tls';
import { Agent, buildConnector, errors } from 'undici';
import { normalizeHost } from './address-policy.ts';
import type { AllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import { checkedAddresses, checkPolicyAddress, createGuardedConnector, systemResolver, type Dial, type EgressPolicy, type Resolver } from './guarded-connector.ts';

export interface GuardedHttpOptions {
  /** Operator allow list (host names or CIDRs) of non-public destinations that may be reached. */
  allow: AllowList;
  /** Name resolution; default `dns.lookup` with `all: true`. Called once per new connection. */
  resolver?: Resolver;
  /** An extra trusted CA (PEM), in addition to Node's default ones. */
  ca?: string | Buffer;
  /** Default true: `http:` URLs are refused unless allow-listed and `allowHttpForAllowListed` is set. */
  requireHttps?: boolean;
  /** With `requireHttps`, still permit plain http to allow-listed destinations (an in-cluster receiver). */
  allowHttpForAllowListed?: boolean;
  /** Sent unless the request sets its own `user-agent`. Default `csda/0.1`. */
  userAgent?: string;
  /** Bound on name resolution plus TCP/TLS connect, per connection. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface GuardedRequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Deadline for the whole exchange: resolve, connect, send, headers and the full body. */
  timeoutMs: number;
  /** The response body is read up to this many bytes; more aborts the request (`too_large`). */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface GuardedResponse {
  status: number;
  /** Lowercase names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * An HTTP client for URLs that users supply (webhooks): every connection
 * goes through the SSRF guard, redirects are never followed (a 3xx comes
 * back as-is, `location` in its headers), and each request has a deadline
 * and a response-size cap. Uses its own undici Agent; global fetch is
 * untouched.
 */
export interface GuardedHttp {
  request(url: string, init: GuardedRequestInit): Promise<GuardedResponse>;
  /** Closes pooled connections; in-flight requests finish first. */
  close(): Promise<void>;
}

/** A URL the guard accepted, split for one hop. */
export interface EgressTarget {
  readonly url: URL;
  /** Lowercase host without brackets or trailing dot: what messages and the allow list see. */
  readonly host: string;
}

/** True for the statuses a redirect follower would act on. */
export function isRedirectStatus(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * The URL-level decision, before any connection: http(s) only, no
 * credentials in the URL, https unless the destination is allow-listed for
 * plain http, and IP-literal hosts checked at once. A later redirect
 * follower runs each `location` (resolved against the current URL) through
 * this again and sends it with the same client: the connector re-checks the
 * addresses of every hop.
 */
export function validateTarget(rawUrl: string, policy: EgressPolicy): EgressTarget {
  // WHATWG parsing drops tabs and newlines, trims spaces and controls and reads
  // a backslash as a slash; other parsers do not. Such a URL is refused, so no
  // parser downstream can see a different host than the guard checked.
  if (hasAmbiguousUrlCharacter(rawUrl)) {
    throw new EgressRefusedError('invalid_url', '', 'the URL contains a backslash, a space or a control character; percent-encode them');
  }
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    // The URL is never repeated in the message: it may carry a token.
    throw new EgressRefusedError('invalid_url', '', 'the URL is not a valid absolute URL');
  }
  const host = normalizeHost(url.hostname);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new EgressRefusedError('scheme', host, `the URL scheme ${url.protocol.slice(0, -1)} is refused; only https (and http where permitted)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new EgressRefusedError('userinfo', host, 'URLs carrying credentials (user:password@host) are refused');
  }
  if (host === '') throw new EgressRefusedError('invalid_url', host, 'the URL has no host');
  const literal = isIP(host) !== 0;
  if (literal) checkPolicyAddress(policy, host, host);
  if (url.protocol === 'http:' && policy.requireHttps) {
    const hostAllowed = policy.allowHttpForAllowListed && policy.allow.allowsHost(host);
    // A name not allow-listed itself may still resolve into allow-listed
    // CIDRs: the connector decides that per address.
    const decidedLater = policy.allowHttpForAllowListed && !literal;
    if (!hostAllowed && !decidedLater) throw new EgressRefusedError('insecure_http', host, `plain http to ${host} is refused; use https`);
  }
  return { url, host };
}

/**
 * True when `text` holds a backslash, a space, an ASCII control character or
 * DEL: characters WHATWG URL parsing silently drops, trims or rewrites, so
 * other parsers may read a different host.
 */
export function hasAmbiguousUrlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f || code === 0x5c) return true;
  }
  return false;
}

/** Longest deadline a timer can express (about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Headers the caller may not set: the guard owns where the request goes. */
const FORBIDDEN_HEADERS = new Set(['host', 'connection', 'proxy-authorization', 'transfer-encoding', 'upgrade', 'expect', 'te', 'keep-alive']);

/** True for a header name a guarded request may not carry (the guard owns where the request goes and how it is framed). */
export function isForbiddenHeader(name: string): boolean {
  return FORBIDDEN_HEADERS.has(name.toLowerCase());
}

export function createGuardedHttp(options: GuardedHttpOptions): GuardedHttp {
  return createGuardedHttpWithDial(options);
}

function policyOf(options: Pick<GuardedHttpOptions, 'allow' | 'requireHttps' | 'allowHttpForAllowListed'>): EgressPolicy {
  return {
    allow: options.allow,
    requireHttps: options.requireHttps ?? true,
    allowHttpForAllowListed: options.allowHttpForAllowListed ?? false,
  };
}

/**
 * The guard's whole decision for `url` without connecting: the URL checks of
 * `validateTarget`, then the host resolved and every address checked. For
 * validating a URL when it is configured (a 422 at once instead of a failed
 * delivery later). DNS can change afterwards: requests are checked again.
 */
export async function checkDestination(
  url: string,
  options: Pick<GuardedHttpOptions, 'allow' | 'requireHttps' | 'allowHttpForAllowListed' | 'resolver' | 'connectTimeoutMs'>,
): Promise<void> {
  const policy = policyOf(options);
  const target = validateTarget(url, policy);
  await checkedAddresses(
    { policy, resolver: options.resolver ?? systemResolver, resolveTimeoutMs: options.connectTimeoutMs ?? 10_000 },
    target.url.hostname,
    target.url.protocol,
  );
}

/**
 * `createGuardedHttp` with the socket-opening step wrapped (tests count and
 * restrict the addresses dialled). The dial only ever receives addresses the
 * guard has checked.
 */
export function createGuardedHttpWithDial(options: GuardedHttpOptions, wrapDial: (dial: Dial) => Dial = (dial) => dial): GuardedHttp {
  const policy = policyOf(options);
  const exchange = openGuardedExchange({ ...options, policy, wrapDial });
  let closing: Promise<void> | undefined;
  return {
    async request(url, init) {
      if (closing) throw new Error('the guarded HTTP client is closed');
      checkRequestInit(init);
      const { truncated: _ignored, ...response } = await exchange.send(validateTarget(url, policy), init);
      return response;
    },
    close() {
      closing ??= exchange.close();
      return closing;
    },
  };
}

/** Throws a TypeError for a deadline, cap or method the guarded client does not take. */
export function checkRequestInit(init: Pick<GuardedRequestInit, 'method' | 'timeoutMs' | 'maxResponseBytes'>): void {
  if (!(init.timeoutMs > 0 && init.timeoutMs <= MAX_TIMEOUT_MS)) throw new TypeError(`timeoutMs must be between 1 and ${MAX_TIMEOUT_MS}`);
  if (!(Number.isSafeInteger(init.maxResponseBytes) && init.maxResponseBytes >= 0)) throw new TypeError('maxResponseBytes must be a non-negative integer');
  if (!/^[A-Z]{1,16}$/.test(init.method) || init.method === 'CONNECT' || init.method === 'TRACE') {
    throw new TypeError(`method ${init.method} is not supported on a guarded request`);
  }
}

/** What one guarded exchange takes: the request, plus what to do with a body over the cap. */
export interface ExchangeInit extends GuardedRequestInit {
  /** `error` (default): `too_large`. `truncate`: keep the first maxResponseBytes, drop the connection, `truncated: true`. */
  overflow?: 'error' | 'truncate';
}

/** A pooled, guarded connection set sending single exchanges (no redirect handling): the seam redirect followers loop over. */
export interface GuardedExchange {
  send(target: EgressTarget, init: ExchangeInit): Promise<GuardedResponse & { truncated: boolean }>;
  close(): Promise<void>;
}

/**
 * An undici Agent whose every connection goes through the guard of
 * `options.policy`. Connections are pooled per origin, so one exchange set
 * must serve one policy only: the check runs when a connection opens.
 */
export function openGuardedExchange(
  options: Pick<GuardedHttpOptions, 'resolver' | 'ca' | 'userAgent' | 'connectTimeoutMs'> & { policy: EgressPolicy; wrapDial?: (dial: Dial) => Dial; dial?: Dial },
): GuardedExchange {
  const { policy } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const ca = options.ca === undefined ? undefined : [...getCACertificates('default'), options.ca.toString()];
  const baseDial = options.dial ?? buildConnector({ ...(ca ? { ca } : {}), allowH2: false, timeout: connectTimeoutMs });
  const dial = (options.wrapDial ?? ((d: Dial) => d))(baseDial);
  const agent = new Agent({
    connect: createGuardedConnector({ policy, resolver: options.resolver ?? systemResolver, dial, resolveTimeoutMs: connectTimeoutMs }),
    allowH2: false,
    connections: 16,
    keepAliveTimeout: 4_000,
  });
  const userAgent = options.userAgent ?? 'csda/0.1';

  async function send(target: EgressTarget, init: ExchangeInit): Promise<GuardedResponse & { truncated: boolean }> {
    const headers = requestHeaders(init.headers, userAgent);
    const deadline = AbortSignal.timeout(init.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const truncate = init.overflow === 'truncate';
    const failed = (err: unknown): never => {
      if (err instanceof EgressRefusedError || err instanceof HttpRequestError) throw err;
      if (deadline.aborted) throw new HttpRequestError('timeout', target.host, `request to ${target.host} took longer than ${init.timeoutMs} ms`, err);
      if (init.signal?.aborted) throw init.signal.reason;
      // A bad header value or body type is the caller's bug, not the peer's.
      if ((err as { code?: unknown } | null)?.code === 'UND_ERR_INVALID_ARG') throw err;
      throw describeFailure(target.host, err);
    };
    let response: Awaited<ReturnType<Agent['request']>>;
    try {
      response = await agent.request({
        origin: target.url.origin,
        path: `${target.url.pathname}${target.url.search}`,
        method: init.method,
        headers,
        body: init.body,
        signal,
        headersTimeout: init.timeoutMs,
        bodyTimeout: init.timeoutMs,
      });
    } catch (err) {
      return failed(err);
    }
    try {
      const declared = Number(response.headers['content-length']);
      if (!truncate && Number.isFinite(declared) && declared > init.maxResponseBytes) throw tooLarge(target.host, init.maxResponseBytes);
      const chunks: Buffer[] = [];
      let total = 0;
      let truncated = false;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (total + chunk.length > init.maxResponseBytes) {
          if (!truncate) throw tooLarge(target.host, init.maxResponseBytes);
          chunks.push(chunk.subarray(0, init.maxResponseBytes - total));
          total = init.maxResponseBytes;
          truncated = true;
          break;
        }
        total += chunk.length;
        chunks.push(chunk);
      }
      // Cut short: the rest is never downloaded and the connection is not reused.
      if (truncated) response.body.on('error', () => {}).destroy();
      return { status: response.statusCode, headers: flattenHeaders(response.headers), body: Buffer.concat(chunks, total), truncated };
    } catch (err) {
      // Stops reading and drops the connection: the rest is never downloaded.
      response.body.on('error', () => {}).destroy();
      return failed(err);
    }
  }

  return { send, close: () => agent.close() };
}

function requestHeaders(given: Record<string, string> | undefined, userAgent: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given ?? {})) {
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower)) throw new TypeError(`header ${lower} may not be set on a guarded request`);
    headers[lower] = value;
  }
  headers['user-agent'] ??= userAgent;
  return headers;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function tooLarge(host: string, max: number): HttpRequestError {
  return new HttpRequestError('too_large', host, `response from ${host} is larger than ${max} bytes`);
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TOO_LARGE_CODES = new Set(['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_HEADERS_OVERFLOW']);

/** Maps an undici / socket / TLS failure to its kind, without repeating its text (it may name paths). */
function describeFailure(host: string, err: unknown): HttpRequestError {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  if (err instanceof errors.HTTPParserError) return new HttpRequestError('protocol', host, `${host} sent an invalid HTTP response`, err);
  if (TIMEOUT_CODES.has(code)) return new HttpRequestError('timeout', host, `request to ${host} timed out (${code})`, err);
  if (TOO_LARGE_CODES.has(code)) return new HttpRequestError('too_large', host, `response from ${host} is too large (${code})`, err);
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RESPONSE_STATUS_CODE' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new HttpRequestError('protocol', host, `${host} sent an invalid HTTP response (${code})`, err);
  }
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO/.test(code)) {
    return new HttpRequestError('connection', host, `TLS with ${host} failed (${code})`, err);
  }
  return new HttpRequestError('connection', host, `connection to ${host} failed${code ? ` (${code})` : ''}`, err);
}
