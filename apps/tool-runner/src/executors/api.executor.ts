import { EgressRefusedError, expandHeaderTemplate, expandJsonTemplate, expandUrlTemplate, HttpRequestError, TemplateError, type HttpTool } from '@csda/net';
import { AppError } from '@csda/errors';
import { failed, type Executor } from './executor.types.ts';

export interface ApiExecutorDeps {
  /** @csda/net's createHttpTool: SSRF-guarded (tool allow_hosts AND TOOLS_HTTP_ALLOW), redirects re-checked, retries for idempotent methods. */
  readonly http: Pick<HttpTool, 'call'>;
}

/** api_call: runs in-process (not in the sandbox) through the guarded HTTP tool client. */
export function createApiExecutor(deps: ApiExecutorDeps): Executor {
  return async (req) => {
    const c = req.tool.config;
    const input = req.input as Record<string, unknown>;
    let url: string;
    let headers: Record<string, string>;
    let body: string | undefined;
    try {
      url = expandUrlTemplate(String(c.url), input);
      headers = expandHeaderTemplate((c.headers as Record<string, string> | undefined) ?? {}, input);
      if (c.body !== undefined && c.body !== null) {
        body = JSON.stringify(expandJsonTemplate(c.body, input));
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
    } catch (err) {
      if (err instanceof TemplateError) return failed('TEMPLATE_REFUSED', err.message);
      throw err;
    }
    // Granted headers win over template ones and never follow a redirect to another origin.
    for (const name of Object.keys(req.secrets.headers)) for (const h of Object.keys(headers)) if (h.toLowerCase() === name.toLowerCase()) delete headers[h];
    Object.assign(headers, req.secrets.headers);
    try {
      const res = await deps.http.call({
        method: String(c.method ?? 'GET'),
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
        toolAllowHosts: (c.allow_hosts as string[] | undefined) ?? [],
        sensitiveHeaders: Object.keys(req.secrets.headers),
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
      const output = { status: res.status, content_type: res.headers['content-type'] ?? '', body: parsed, redirects: res.redirects, attempts: res.attempts };
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
