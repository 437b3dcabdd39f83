import type { Duplex } from 'node:stream';
import { EgressRefusedError, HttpRequestError } from './errors.ts';

/** Printable ASCII only, at most `max` characters: text from a client or a destination, safe for a status line or a log. */
export function printable(text: string, max = 300): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/**
 * A refusal on a raw proxy connection (CONNECT, upgrade): the reason is both the reason phrase — many clients
 * show only the status line of a failed CONNECT (Python: "Tunnel connection failed: 403 host …") — and the body.
 */
export function replyRaw(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${printable(message)}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** How a guarded dial or exchange failed, as the proxy answers it: a refusal (403) or a failure (502, 504). */
export function dialFailure(host: string, err: unknown): { status: number; kind: 'refused' | 'failed'; message: string } {
  if (err instanceof EgressRefusedError) return { status: 403, kind: 'refused', message: err.message };
  if (err instanceof HttpRequestError) return { status: err.kind === 'timeout' ? 504 : 502, kind: 'failed', message: err.message };
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return { status: 504, kind: 'failed', message: `${host} did not answer in time (${code})` };
  }
  return { status: 502, kind: 'failed', message: `connection to ${host} failed${code ? ` (${code})` : ''}` };
}
