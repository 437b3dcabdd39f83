import { EgressRefusedError, HttpRequestError } from '@csda/net';
import { AppError } from '@csda/errors';
import { fillJson, fillText, PLACEHOLDER, textOf } from '../tools/templates.ts';
import { failed, type Executor } from './executor.types.ts';

/** The planned `createHttpTool(...)` of @csda/net (SSRF-guarded, redirects re-checked, retries for idempotent methods). */
export interface HttpToolClient {
  call(req: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body?: string;
    toolAllowHosts: string[];
    timeoutMs: number;
    maxResponseBytes: number;
    maxRedirects?: number;
    retries?: number;
    signal?: AbortSignal;
  }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; truncated: boolean; redirects: string[] }>;
}

export interface ApiExecutorDeps {
  /** undefined until @csda/net's createHttpTool is wired: api_call executions then fail with a clear error. */
  readonly http: HttpToolClient | undefined;
  /** Fills a URL template, each value URL-encoded (net's expandUrlTemplate). */
  readonly expandUrl?: (template: string, input: Record<string, unknown>) => string;
}

const encodeFill = (template: string, input: Record<string, unknown>) => template.replace(PLACEHOLDER, (_m, name: string) => encodeURIComponent(textOf(input[name])));

/** api_call: runs in-process (not in the sandbox) through the guarded HTTP tool client. */
export function createApiExecutor(deps: ApiExecutorDeps): Executor {
  const expandUrl = deps.expandUrl ?? encodeFill;
  return async (req) => {
    if (!deps.http) return failed('NOT_AVAILABLE', 'api_call tools are not available on this tool-runner yet (HTTP client not configured)');
    const c = req.tool.config;
    const input = req.input as Record<string, unknown>;
    let url: string;
    try {
      url = expandUrl(String(c.url), input);
    } catch (err) {
      if (err instanceof AppError) return failed('TEMPLATE_REFUSED', err.message);
      throw err;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries((c.headers as Record<string, string> | undefined) ?? {})) {
      const filled = fillText(value, input);
      if (/[\r\n\0]/.test(filled)) return failed('TEMPLATE_REFUSED', `header ${name} would contain a line break`);
      headers[name] = filled;
    }
    Object.assign(headers, req.secrets.headers);
    let body: string | undefined;
    if (c.body !== undefined && c.body !== null) {
      body = JSON.stringify(fillJson(c.body, input));
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    try {
      const res = await deps.http.call({
        method: String(c.method ?? 'GET'),
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
        toolAllowHosts: (c.allow_hosts as string[] | undefined) ?? [],
        timeoutMs: req.tool.timeoutS * 1_000,
        maxResponseBytes: req.tool.maxOutputBytes,
        maxRedirects: 5,
        retries: Number(c.retries ?? 2),
        signal: req.signal,
      });
      const text = res.body.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the text itself
      }
      const contentType = res.headers['content-type'];
      const output = { status: res.status, content_type: Array.isArray(contentType) ? contentType[0] : (contentType ?? ''), body: parsed, redirects: res.redirects };
      const ok = res.status >= 200 && res.status < 400;
      return {
        status: ok ? 'completed' : 'failed',
        output,
        stderr: '',
        error: ok ? null : { code: 'HTTP_STATUS', message: `the server answered ${res.status}` },
        truncated: res.truncated,
        exitCode: res.status,
        warnings: res.truncated ? [`response cut at ${req.tool.maxOutputBytes} bytes`] : [],
      };
    } catch (err) {
      if (req.signal.aborted) return { ...failed('CANCELLED', 'cancelled while running'), status: 'cancelled' };
      if (err instanceof EgressRefusedError) return failed('EGRESS_REFUSED', err.message);
      if (err instanceof HttpRequestError) {
        if (err.kind === 'timeout') return { ...failed('TIMED_OUT', `no answer within ${req.tool.timeoutS} s`), status: 'timed_out' };
        return failed('HTTP_ERROR', err.message);
      }
      if (err instanceof AppError) return failed(err.code === 'VALIDATION_ERROR' ? 'EGRESS_REFUSED' : err.code, err.message);
      throw err;
    }
  };
}
