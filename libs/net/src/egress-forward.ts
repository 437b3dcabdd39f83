import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EgressRefusedError } from './errors.ts';
import type { ProxyContext } from './egress-proxy.ts';
import { dialFailure, printable } from './egress-reply.ts';
import { checkToolHop } from './tool-policy.ts';

// Hop-by-hop headers (RFC 9110 §7.6.1) and what this proxy sets itself; never forwarded either way.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

function forwardable(raw: readonly string[], connection: string | undefined): string[] {
  const named = new Set((connection ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean));
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, printable(message), { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`${message}\n`);
}

/** The bytes of a head: a start line and `name: value` lines, as on the wire. */
export function headBytes(startLine: string, raw: readonly string[]): number {
  let n = startLine.length + 4;
  for (const part of raw) n += part.length + 2;
  return n;
}

/** Counts the bytes passing through (the execution's egress budget); a cut destroys it. */
function counter(ctx: ProxyContext): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (ctx.count(chunk.length)) done(null, chunk);
      else done(new Error('egress limit reached'));
    },
  });
}

/**
 * An absolute-form request (`GET http://host:port/path`): checked like an api_call hop, sent through the
 * execution's guarded pool (the connector resolves, checks every address and dials the checked one), the
 * response streamed back. Redirects come back to the program as they are; following one is a new request,
 * checked again. https URLs go through CONNECT; origin-form requests are refused.
 */
export async function forwardRequest(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = req.url ?? '';
  const method = req.method ?? 'GET';
  let target = `${method} ${printable(raw.replace(/^(https?:\/\/[^/?#]*).*$/i, '$1'), 120)}`;
  const no = (status: number, message: string, kind: 'refused' | 'failed' = 'refused') => {
    ctx.record({ kind, target, message });
    req.resume();
    refuse(res, status, message);
  };
  if (!/^http:\/\//i.test(raw)) {
    return no(400, /^https:\/\//i.test(raw) ? 'https goes through CONNECT, not as an absolute URL' : 'this is an HTTP proxy: send absolute http:// URLs, or CONNECT host:port for https');
  }
  if (method === 'TRACE' || method === 'TRACK') return no(405, `method ${method} is not forwarded`);
  // The URL and headers leave too: they are charged before anything is checked or looked up.
  const denied = ctx.admit() ?? ctx.charge(headBytes(`${method} ${raw} HTTP/1.1`, req.rawHeaders));
  if (denied) return no(denied.status, denied.message);
  let url: URL;
  try {
    url = checkToolHop(raw, ctx.tool, ctx.policy).url;
    target = `${method} ${url.origin}`;
  } catch (err) {
    if (err instanceof EgressRefusedError) return no(403, err.message);
    throw err;
  }
  const conn = ctx.open('request');
  conn.track(req.socket);
  res.on('close', conn.release);
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  let body: Transform | undefined;
  if (hasBody) {
    body = counter(ctx);
    pipeline(req, body).catch(() => {});
  } else req.resume();
  let response: Awaited<ReturnType<ProxyContext['agent']['request']>>;
  try {
    response = await ctx.agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers: forwardable(req.rawHeaders, req.headers.connection),
      body: body ?? null,
      headersTimeout: ctx.requestTimeoutMs,
      bodyTimeout: ctx.requestTimeoutMs,
    });
  } catch (err) {
    const f = dialFailure(url.host, err);
    conn.release();
    return no(f.status, f.message, f.kind);
  }
  const headers = forwardable(Object.entries(response.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : v === undefined ? [] : [k, v])), String(response.headers.connection ?? ''));
  if (ctx.charge(headBytes(`HTTP/1.1 ${response.statusCode}`, headers))) {
    response.body.on('error', () => {}).destroy();
    res.destroy();
    return conn.release();
  }
  res.writeHead(response.statusCode, headers);
  try {
    await pipeline(response.body, counter(ctx), res);
  } catch {
    response.body.destroy();
    res.destroy();
  } finally {
    conn.release();
  }
}
