// Turning child output into display lines. Pure (unit-tested in lines.test.ts).

/** Splits a byte stream into lines; keeps the unfinished tail for the next chunk. */
export class LineSplitter {
  private rest = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array | string): string[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }));
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    return parts.map(stripCr);
  }

  /** The unfinished last line, if any (call when the stream ends). */
  flush(): string[] {
    const last = this.rest + this.decoder.decode();
    this.rest = '';
    return last === '' ? [] : [stripCr(last)];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

export interface Palette {
  dim(s: string): string;
  level(level: string, s: string): string;
}

export const PLAIN: Palette = { dim: (s) => s, level: (_l, s) => s };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'name', 'service', 'err', 'error']);

export function levelName(level: unknown): string {
  if (typeof level === 'number') return LEVELS[level] ?? String(level);
  if (typeof level === 'string') return level.toUpperCase();
  return '';
}

function clock(time: unknown): string {
  const d = typeof time === 'number' || typeof time === 'string' ? new Date(time) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * A pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value …`, an error's stack on
 * the following lines. Anything that is not a pino object comes back unchanged.
 */
export function formatLogLine(line: string, palette: Palette = PLAIN): string[] {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return [line];
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return [line];
    rec = parsed as Record<string, unknown>;
  } catch {
    return [line];
  }
  if (!('level' in rec) || !('msg' in rec || 'time' in rec)) return [line];
  const level = levelName(rec.level);
  const fields = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  const head = [
    palette.dim(clock(rec.time)),
    palette.level(level, level.padEnd(5)),
    typeof rec.msg === 'string' ? rec.msg : rec.msg === undefined ? '' : JSON.stringify(rec.msg),
    fields.length ? palette.dim(fields.join(' ')) : '',
  ]
    .filter((s) => s !== '')
    .join(' ');
  const out = [head];
  const err = (rec.err ?? rec.error) as unknown;
  if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    const stack = typeof e.stack === 'string' ? e.stack : `${String(e.type ?? 'Error')}: ${String(e.message ?? '')}`;
    out.push(...stack.split('\n').map((l) => palette.dim(`    ${l}`)));
  } else if (err !== undefined) {
    out[0] += ` ${palette.dim(`err=${fieldValue(err)}`)}`;
  }
  return out;
}

/** `name           │ text`, the name padded to `width` and coloured by `color`. */
export function prefixLine(name: string, width: number, text: string, color: (s: string) => string = (s) => s): string {
  return `${color(name.padEnd(width))} │ ${text}`;
}

/** Keeps the last `size` items. */
export class Tail {
  private readonly items: string[] = [];
  private readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  push(item: string): void {
    this.items.push(item);
    if (this.items.length > this.size) this.items.splice(0, this.items.length - this.size);
  }

  get lines(): readonly string[] {
    return this.items;
  }
}

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
