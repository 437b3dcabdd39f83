import { setTimeout as sleep } from 'node:timers/promises';
import type { AllowList } from './allow-list.ts';
import { EgressRefusedError, HttpRequestError } from './errors.ts';
import type { Dial, Resolver } from './guarded-connector.ts';
import { checkRequestInit, hasAmbiguousUrlCharacter, isForbiddenHeader, isRedirectStatus, openGuardedExchange, type EgressTarget, type GuardedExchange } from './guarded-http.ts';
import { checkToolHop, parseToolAllowHosts, toolPolicy, type ToolAllowHosts } from './tool-policy.ts';
import { checkHeader, TemplateError } from './url-template.ts';

export interface HttpToolOptions {
  /** The operator's list (TOOLS_HTTP_ALLOW): non-public destinations it permits, if a tool's allow_hosts also lists them. */
  operatorAllow: AllowList;
  /** Name resolution; default the system's. Each host is resolved once per connection and the checked address is dialled. */
  resolver?: Resolver;
  /** An extra trusted CA (PEM). */
  ca?: string | Buffer;
  /** Opens the socket to a checked address (undici connector contract); default undici's TCP/TLS connector. Tests inject one. */
  connector?: Dial;
  /** Default `csda-tool/0.1`. */
  userAgent?: string;
  /** Bound on resolve + connect per connection (further bounded by the call's deadline). Default 10 s. */
  connectTimeoutMs?: number;
  /** Exponential back-off between retries: base × 2^attempt, capped, with equal jitter. Default 250 ms, 4 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** A Retry-After longer than this (or than the time left) is not waited for: the 429/503 is returned. Default 30 s. */
  maxRetryAfterMs?: number;
  /** Random source for the jitter, in [0, 1). */
  random?: () => number;
}

export interface HttpToolRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The tool's allow_hosts: empty = any public host; otherwise only these hosts (and non-public ones only if the operator permits too). */
  toolAllowHosts: readonly string[];
  /** Header names (besides authorization, cookie) whose values must not follow a redirect to another origin: those filled from secrets. */
  sensitiveHeaders?: readonly string[];
  /** Deadline of the whole call: every hop, retry and back-off. */
  timeoutMs: number;
  /** The final response body is cut here (`truncated: true`). */
  maxResponseBytes: number;
  /** Default 5. Redirects followed by hand; one more fails the call. */
  maxRedirects?: number;
  /** Default 2. Extra attempts, for idempotent methods only. */
  retries?: number;
  signal?: AbortSignal;
}

export interface HttpToolResponse {
  status: number;
  /** Lowercase names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  truncated: boolean;
  /** Every redirect followed, as origin + path (query strings left out: they may carry tokens). */
  redirects: string[];
  /** Attempts made (1 + retries used). */
  attempts: number;
  /** Where the final response came from, as origin + path. */
  url: string;
}

export interface HttpTool {
  call(req: HttpToolRequest): Promise<HttpToolResponse>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const AUTH_HEADERS = ['authorization', 'cookie'];
/** Headers describing a request body: dropped with the body when a redirect turns the method into GET. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];

/** 5xx worth another attempt: not 501 Not Implemented or 505 HTTP Version Not Supported, which will not change. */
function retryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Origin + path: what results and messages show of a URL. */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * The api_call tool's HTTP client: every hop goes through the SSRF guard
 * with the double allow list (see tool-policy.ts), redirects are followed by
 * hand and each hop re-checked, idempotent requests are retried with
 * back-off, and the whole call has one deadline and a response-size cap.
 * Each call gets its own connection pool, so a connection checked for one
 * tool's allow list is never reused under another's.
 */
export function createHttpTool(options: HttpToolOptions): HttpTool {
  const baseMs = options.backoff?.baseMs ?? 250;
  const maxMs = options.backoff?.maxMs ?? 4_000;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  const random = options.random ?? Math.random;

  return {
    async call(req) {
      const method = req.method.toUpperCase();
      checkRequestInit({ method, timeoutMs: req.timeoutMs, maxResponseBytes: req.maxResponseBytes });
      const maxRedirects = req.maxRedirects ?? 5;
      const retries = req.retries ?? 2;
      if (!(Number.isInteger(maxRedirects) && maxRedirects >= 0 && maxRedirects <= 20)) throw new TypeError('maxRedirects must be an integer 0-20');
      if (!(Number.isInteger(retries) && retries >= 0 && retries <= 10)) throw new TypeError('retries must be an integer 0-10');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers ?? {})) {
        checkHeader(name, String(value));
        const lower = name.toLowerCase();
        if (isForbiddenHeader(lower) || lower === 'content-length') throw new TemplateError(`header ${lower} may not be set on an HTTP tool request`, { header: lower });
        headers[lower] = String(value);
      }
      let tool: ToolAllowHosts;
      try {
        tool = parseToolAllowHosts(req.toolAllowHosts);
      } catch (err) {
        throw new TemplateError((err as Error).message.replace(/^Invalid allow-list entry/, 'Invalid allow_hosts entry'));
      }
      const policy = toolPolicy(tool, options.operatorAllow);
      const first = checkToolHop(req.url, tool, policy);
      const deadline = Date.now() + req.timeoutMs;
      const exchange = openGuardedExchange({
        policy,
        ...(options.resolver ? { resolver: options.resolver } : {}),
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.connector ? { dial: options.connector } : {}),
        userAgent: options.userAgent ?? 'csda-tool/0.1',
        connectTimeoutMs: Math.min(options.connectTimeoutMs ?? 10_000, req.timeoutMs),
      });
      const sensitive = new Set([...AUTH_HEADERS, ...(req.sensitiveHeaders ?? []).map((h) => h.toLowerCase())]);
      const retryable = IDEMPOTENT.has(method);
      try {
        for (let attempt = 1; ; attempt += 1) {
          const canRetry = retryable && attempt <= retries;
          let result: HttpToolResponse;
          try {
            result = await follow(exchange, first, { ...req, method, headers }, { deadline, maxRedirects, sensitive, policy, tool, attempt });
          } catch (err) {
            const wait = canRetry && retryableError(err, deadline) ? backoffMs(attempt) : undefined;
            if (wait === undefined || !(await pause(wait, deadline, req.signal))) throw err;
            continue;
          }
          if (!canRetry || !retryableStatus(result.status)) return result;
          const wait = waitBefore(result, attempt);
          if (wait === undefined || !(await pause(wait, deadline, req.signal))) return result;
        }
      } finally {
        await exchange.close();
      }
    },
  };

  function backoffMs(attempt: number): number {
    const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
    return ceiling / 2 + random() * (ceiling / 2);
  }

  /** How long to wait before retrying `result`, or undefined when it must not be retried. */
  function waitBefore(result: HttpToolResponse, attempt: number): number | undefined {
    const header = result.headers['retry-after'];
    if ((result.status === 429 || result.status === 503) && header !== undefined) {
      const ms = retryAfterMs(header);
      if (ms === undefined || ms > maxRetryAfterMs) return undefined;
      return ms;
    }
    return backoffMs(attempt);
  }
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when unreadable. */
export function retryAfterMs(value: string, now = Date.now()): number | undefined {
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed) * 1_000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return undefined;
  return Math.max(0, at - now);
}

/** Connection failures (and connect timeouts with time left) are worth another attempt; a refusal never is. */
function retryableError(err: unknown, deadline: number): boolean {
  if (err instanceof EgressRefusedError || !(err instanceof HttpRequestError)) return false;
  if (err.kind === 'connection') return true;
  return err.kind === 'timeout' && Date.now() < deadline;
}

/** Sleeps `ms` unless that would pass the deadline (false: give up); the caller's abort ends it early. */
async function pause(ms: number, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (Date.now() + ms >= deadline) return false;
  await sleep(ms, undefined, signal ? { signal } : undefined).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
  return true;
}

interface FollowContext {
  readonly deadline: number;
  readonly maxRedirects: number;
  readonly sensitive: ReadonlySet<string>;
  readonly policy: ReturnType<typeof toolPolicy>;
  readonly tool: ToolAllowHosts;
  readonly attempt: number;
}

/** One attempt: the request and the redirects it leads to, each hop checked again. */
async function follow(
  exchange: GuardedExchange,
  first: EgressTarget,
  req: HttpToolRequest & { headers: Record<string, string> },
  ctx: FollowContext,
): Promise<HttpToolResponse> {
  let target = first;
  let method = req.method;
  let body = req.body;
  let headers = { ...req.headers };
  const redirects: string[] = [];
  let from = '';
  for (let hop = 0; ; hop += 1) {
    const remaining = ctx.deadline - Date.now();
    if (remaining <= 0) throw new HttpRequestError('timeout', target.host, `the call took longer than its deadline before reaching ${target.host}`);
    const res = await exchange
      .send(target, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: remaining,
        maxResponseBytes: req.maxResponseBytes,
        overflow: 'truncate',
        ...(req.signal ? { signal: req.signal } : {}),
      })
      .catch((err: unknown) => {
        // A hop's addresses are checked when it connects: say it was a redirect that led there.
        if (hop > 0 && err instanceof EgressRefusedError) {
          throw new EgressRefusedError(err.reason, err.host, `redirect ${hop} (from ${from}) refused: ${err.message}`);
        }
        // A hop runs on what is left of the call's deadline: name the call's.
        if (err instanceof HttpRequestError && err.kind === 'timeout' && Date.now() >= ctx.deadline - 5) {
          throw new HttpRequestError('timeout', err.host, `the call took longer than ${req.timeoutMs} ms (waiting for ${err.host})`, err);
        }
        throw err;
      });
    const location = res.headers['location'];
    if (!isRedirectStatus(res.status) || location === undefined || ctx.maxRedirects === 0) {
      return { ...res, redirects, attempts: ctx.attempt, url: shown(target.url) };
    }
    if (hop >= ctx.maxRedirects) {
      throw new HttpRequestError('redirects', target.host, `more than ${ctx.maxRedirects} redirects (the last from ${target.host}); stopped`);
    }
    const next = redirectTarget(location, target, ctx, hop + 1);
    if ((res.status === 303 && method !== 'GET' && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !BODY_HEADERS.includes(name)));
    }
    if (next.url.origin !== target.url.origin) {
      // Once dropped they stay dropped, even if a later hop comes back.
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !ctx.sensitive.has(name)));
    }
    redirects.push(shown(next.url));
    from = target.host;
    target = next;
  }
}

function redirectTarget(location: string, from: EgressTarget, ctx: FollowContext, hop: number): EgressTarget {
  if (hasAmbiguousUrlCharacter(location)) {
    throw new EgressRefusedError('invalid_url', from.host, `redirect ${hop} (from ${from.host}) refused: the location contains a backslash, a space or a control character`);
  }
  let url: URL;
  try {
    url = new URL(location, from.url);
  } catch {
    throw new EgressRefusedError('invalid_url', from.host, `redirect ${hop} (from ${from.host}) refused: the location is not a valid URL`);
  }
  url.hash = '';
  try {
    return checkToolHop(url.href, ctx.tool, ctx.policy);
  } catch (err) {
    if (err instanceof EgressRefusedError) {
      throw new EgressRefusedError(err.reason, err.host, `redirect ${hop} (from ${from.host}) refused: ${err.message}`);
    }
    throw err;
  }
}
