import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** A part of a multipart/form-data body: a text field, or a file with its name. */
export type Part = { name: string; value: string; contentType?: string } | { name: string; filename: string; content: Buffer; contentType?: string };

export const boundary = () => `csda-${randomBytes(12).toString('hex')}`;

export function partHead(part: Part, b: string): Buffer {
  const disposition = 'filename' in part ? `form-data; name="${part.name}"; filename="${part.filename}"` : `form-data; name="${part.name}"`;
  const type = part.contentType ?? ('filename' in part ? 'application/octet-stream' : undefined);
  return Buffer.from(`--${b}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`);
}

export const closing = (b: string) => Buffer.from(`--${b}--\r\n`);

/** The whole body (small uploads, for inject) and its content-type header. */
export function multipartBody(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const b = boundary();
  const pieces = parts.flatMap((p) => [partHead(p, b), 'filename' in p ? p.content : Buffer.from(p.value), Buffer.from('\r\n')]);
  return { payload: Buffer.concat([...pieces, closing(b)]), headers: { 'content-type': `multipart/form-data; boundary=${b}` } };
}

export interface StreamedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies; the assertions check their shape
  body: Record<string, any> | undefined;
  /** File bytes the client had handed to its socket when the response arrived. */
  sentWhenAnswered: number;
  /** True when the client finished sending the whole body. */
  finished: boolean;
  /** Resolves when the connection closes (the server closing it: the agent keeps connections alive). */
  closed: Promise<void>;
}

/**
 * A real HTTP/1.1 client streaming one upload: the fields, then `fileBytes`
 * generated in `pieceBytes` pieces written as the socket drains (the
 * client's side of backpressure), then `after` parts. `beforePiece` runs
 * before each piece (pause, observe), `beforeField` between each field's
 * head and its value (a client trickling its form: the field before has
 * ended); the client stops sending as soon as a
 * response arrives, as curl and browsers do.
 */
export function streamUpload(options: {
  url: string;
  token: string;
  fields: Part[];
  filename: string;
  fileBytes: number;
  pieceBytes?: number;
  after?: Part[];
  beforePiece?: (sent: number) => Promise<void> | void;
  beforeField?: (index: number) => Promise<void> | void;
  /** Destroy the connection after this many file bytes (a client that goes away). */
  abortAfter?: number;
}): Promise<StreamedResponse> {
  const b = boundary();
  const piece = options.pieceBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    let finished = false;
    const req = httpRequest(options.url, { method: 'POST', headers: { authorization: `Bearer ${options.token}`, 'content-type': `multipart/form-data; boundary=${b}` } });
    const closed = new Promise<void>((ok) => req.once('socket', (s) => s.once('close', () => ok())));
    req.on('response', (res) => {
      answered = true;
      const sentWhenAnswered = sent;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as StreamedResponse['body']) : undefined, sentWhenAnswered, finished, closed });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const write = (buf: Buffer) => new Promise<void>((ok) => (req.write(buf) ? ok() : req.once('drain', ok)));
    const fill = Buffer.alloc(piece, 'a');
    void (async () => {
      for (const [i, p] of options.fields.entries()) {
        await write(partHead(p, b));
        await options.beforeField?.(i);
        if (answered) return;
        await write(Buffer.concat([Buffer.from('value' in p ? p.value : p.content), Buffer.from('\r\n')]));
      }
      await write(partHead({ name: 'file', filename: options.filename, content: Buffer.alloc(0), contentType: 'text/plain' }, b));
      while (sent < options.fileBytes && !answered) {
        await options.beforePiece?.(sent);
        if (answered) break;
        if (options.abortAfter !== undefined && sent >= options.abortAfter) {
          req.destroy();
          resolve({ status: 0, headers: {}, body: undefined, sentWhenAnswered: sent, finished: false, closed });
          return;
        }
        const n = Math.min(piece, options.fileBytes - sent);
        await write(n === piece ? fill : fill.subarray(0, n));
        sent += n;
      }
      if (answered) return;
      await write(Buffer.from('\r\n'));
      for (const p of options.after ?? []) await write(Buffer.concat([partHead(p, b), Buffer.from('value' in p ? p.value : p.content), Buffer.from('\r\n')]));
      req.end(closing(b), () => (finished = true));
    })().catch((err: unknown) => {
      if (!answered) reject(err as Error);
    });
  });
}
