import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EgressRefusedError } from './errors.ts';
import type { ProxyContext } from './egress-proxy.ts';
import { dialFailure, printable, replyRaw } from './egress-reply.ts';
import { headBytes } from './egress-forward.ts';
import { checkToolHop } from './tool-policy.ts';

// host:port or [v6]:port — nothing else (no userinfo, path, spaces or a second colon outside brackets).
const AUTHORITY = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s[\]/?#@:\\]+)):(\d{1,5})$/;
// The answer to a CONNECT that opens, charged to the budget with the request.
const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
// TLSPlaintext.length is at most 2^14.
const MAX_TLS_RECORD = 16_384;

/**
 * Whether `b` starts a TLS ClientHello: a handshake record (content type 22, version 3.0–3.4, a length from 4 to
 * 2^14) whose first message is of type client_hello (1). `more` while fewer than 6 bytes agree so far.
 */
export function clientHello(b: Buffer): 'yes' | 'no' | 'more' {
  if (b.length > 0 && b[0] !== 0x16) return 'no';
  if (b.length > 1 && b[1] !== 0x03) return 'no';
  if (b.length > 2 && (b[2] as number) > 0x04) return 'no';
  if (b.length > 4) {
    const length = b.readUInt16BE(3);
    if (length < 4 || length > MAX_TLS_RECORD) return 'no';
  }
  if (b.length > 5) return b[5] === 0x01 ? 'yes' : 'no';
  return 'more';
}

/**
 * `CONNECT host:port`: the destination is checked like an api_call URL (`https://host:port/`: literals and
 * encodings, allow_hosts names before any lookup), resolved once, every address checked, the checked address
 * dialled; only then is the tunnel confirmed. The first bytes through it must start a TLS handshake: the tunnel
 * carries HTTPS, not SSH, SMTP or any other cleartext protocol to whatever public host.
 */
export async function openTunnel(ctx: ProxyContext, req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
  client.on('error', () => {});
  const authority = req.url ?? '';
  const target = `CONNECT ${printable(authority, 120)}`;
  const refuse = (status: number, message: string, kind: 'refused' | 'failed' = 'refused') => {
    ctx.record({ kind, target, message });
    replyRaw(client, status, message);
  };
  const denied = ctx.admit() ?? ctx.charge(headBytes(`CONNECT ${authority} HTTP/1.1`, req.rawHeaders) + ESTABLISHED.length);
  if (denied) return refuse(denied.status, denied.message);
  const m = AUTHORITY.exec(authority);
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65_535)) return refuse(400, 'CONNECT needs host:port with a port from 1 to 65535');
  let hostname: string;
  let host: string;
  try {
    const checked = checkToolHop(`https://${m[1] !== undefined ? `[${m[1]}]` : m[2]}:${port}/`, ctx.tool, ctx.policy);
    hostname = checked.url.hostname;
    host = checked.host;
  } catch (err) {
    if (err instanceof EgressRefusedError) return refuse(403, err.message);
    throw err;
  }
  const conn = ctx.open('tunnel');
  conn.track(client);
  client.on('close', conn.release);
  let upstream: Socket;
  try {
    upstream = await ctx.dial(hostname, port);
  } catch (err) {
    conn.release();
    const f = dialFailure(`${host}:${port}`, err);
    return refuse(f.status, f.message, f.kind);
  }
  upstream.on('error', () => {});
  conn.track(upstream);
  if (client.destroyed || upstream.destroyed) {
    upstream.destroy();
    client.destroy();
    return;
  }
  const end = () => {
    client.destroy();
    upstream.destroy();
    conn.release();
  };
  client.on('close', end);
  upstream.on('close', end);
  const start = (first: Buffer) => {
    if (!ctx.count(first.length)) return;
    upstream.write(first);
    client.on('data', (c: Buffer) => void ctx.count(c.length));
    upstream.on('data', (c: Buffer) => void ctx.count(c.length));
    client.pipe(upstream);
    upstream.pipe(client);
  };
  client.write(ESTABLISHED);
  // Nothing reaches the destination until the first bytes are a ClientHello, which must come in time.
  let first = head;
  const cut = (why: string) => {
    ctx.record({ kind: 'cut', target, message: `the tunnel to ${host}:${port} ${why}: CONNECT carries HTTPS only` });
    end();
  };
  const timer = setTimeout(() => cut(`sent no TLS handshake within ${ctx.headersTimeoutMs} ms`), ctx.headersTimeoutMs);
  const judge = () => {
    const verdict = clientHello(first);
    if (verdict === 'more') return;
    clearTimeout(timer);
    client.off('data', more);
    client.off('end', end);
    client.pause();
    if (verdict === 'no') return cut('did not start with a TLS handshake');
    start(first);
  };
  const more = (c: Buffer) => {
    first = Buffer.concat([first, c]);
    judge();
  };
  client.on('close', () => clearTimeout(timer));
  // The proxy's sockets are half-open capable: a client that ends before speaking ends the tunnel.
  client.on('end', end);
  client.on('data', more);
  if (head.length > 0) judge();
}
