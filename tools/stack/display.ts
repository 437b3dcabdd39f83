// Terminal output: colours, prefixed service logs, and a live status block kept
// below the scrolling logs while the services start (plain lines when not a TTY).
import type { Palette } from './lines.ts';
import { formatDuration, formatLogLine, prefixLine } from './lines.ts';

const out = process.stdout;
out.on('error', () => {}); // a closed pipe (npm start | head) must not crash the stack

export const useColor =
  process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0'
    ? true
    : !process.env.NO_COLOR && out.isTTY === true && process.env.TERM !== 'dumb';

const sgr = (open: number, close: number) => (s: string) => (useColor && s ? `\x1b[${open}m${s}\x1b[${close}m` : s);
export const c = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
};
const SERVICE_COLORS = [sgr(36, 39), sgr(35, 39), sgr(33, 39), sgr(32, 39), sgr(34, 39), sgr(96, 39), sgr(95, 39)];

export const palette: Palette = {
  dim: c.dim,
  level: (level, s) =>
    level === 'ERROR' || level === 'FATAL' ? c.red(s) : level === 'WARN' ? c.yellow(s) : level === 'INFO' ? c.green(s) : c.dim(s),
};

/** Status lines redrawn at the bottom of the terminal; everything else prints above them. */
class StatusBlock {
  private lines: string[] = [];
  private drawn = 0;
  private active = false;

  start(lines: string[]): void {
    this.active = out.isTTY === true;
    this.update(lines);
  }

  update(lines: string[]): void {
    this.lines = lines;
    if (!this.active) return;
    this.erase();
    this.draw();
  }

  /** Print text above the block. */
  print(text: string): void {
    if (!this.active) {
      out.write(text + '\n');
      return;
    }
    this.erase();
    out.write(text + '\n');
    this.draw();
  }

  stop(): void {
    this.erase();
    this.active = false;
    this.lines = [];
  }

  private erase(): void {
    if (this.drawn > 0) out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (this.lines.length === 0) return;
    const width = Math.max(20, (out.columns || 100) - 1);
    out.write(this.lines.map((l) => truncate(l, width)).join('\n') + '\n');
    this.drawn = this.lines.length;
  }
}

/** Cut a line to `width` visible characters, keeping its colour codes whole. */
function truncate(line: string, width: number): string {
  let visible = 0;
  let res = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end !== -1) {
        res += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) break;
    res += line[i];
    visible++;
  }
  return res + (useColor ? '\x1b[0m' : '');
}

export const status = new StatusBlock();

export function say(text: string): void {
  status.print(text);
}

export function warn(text: string): void {
  status.print(c.red(text));
}

export class ServiceLog {
  readonly name: string;
  private readonly width: number;
  private readonly color: (s: string) => string;
  private readonly raw: boolean;

  constructor(name: string, index: number, width: number, raw: boolean) {
    this.name = name;
    this.width = width;
    this.raw = raw;
    this.color = SERVICE_COLORS[index % SERVICE_COLORS.length] ?? ((s: string) => s);
  }

  /** Display lines for one line of the service's output. */
  format(line: string): string[] {
    const text = this.raw ? [line] : formatLogLine(line, palette);
    return text.map((t) => prefixLine(this.name, this.width, t, this.color));
  }

  print(line: string): void {
    for (const l of this.format(line)) status.print(l);
  }
}

export type ServiceState =
  | { kind: 'waiting' }
  | { kind: 'starting'; since: number; probe: string }
  | { kind: 'ready'; ms: number }
  | { kind: 'failed'; why: string };

export function stateLine(name: string, width: number, state: ServiceState, now: number): string {
  const label = `  ${name.padEnd(width)}  `;
  switch (state.kind) {
    case 'waiting':
      return label + c.dim('· waiting');
    case 'starting':
      return label + c.yellow('◌ starting') + c.dim(` ${formatDuration(now - state.since)}  ${state.probe}`);
    case 'ready':
      return label + c.green('✓ ready') + c.dim(` in ${formatDuration(state.ms)}`);
    case 'failed':
      return label + c.red(`✗ ${state.why}`);
  }
}
