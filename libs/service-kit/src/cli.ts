import { ConfigError } from './config.ts';
import { DependencyUnavailableError } from './retry.ts';

export type Command = () => Promise<number | void>;

/** Exit codes (sysexits.h) so scripts and Kubernetes can tell failures apart. */
export const EXIT = { ok: 0, failure: 1, usage: 64, unavailable: 69, config: 78 } as const;

/**
 * Runs the command named by argv[2] (default `serve`). Start-up failures are
 * one clear line on stderr and a distinct exit code, never a stack trace.
 * `serve` resolves once listening; the process then lives on its servers.
 */
export async function runCli(service: string, commands: Record<string, Command>, argv: readonly string[]): Promise<void> {
  const name = argv[2] ?? 'serve';
  const command = commands[name];
  if (!command) {
    process.stderr.write(`${service}: unknown command "${name}". Commands: ${Object.keys(commands).join(', ')}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  try {
    const code = await command();
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    process.exitCode = exitCodeFor(err);
    process.stderr.write(`${service} ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.exitCode === EXIT.failure && process.env.NODE_ENV !== 'production' && err instanceof Error && err.stack) {
      process.stderr.write(`${err.stack}\n`);
    }
    // Open handles (pools, timers) must not keep a failed start alive.
    setTimeout(() => process.exit(), 2_000).unref();
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof ConfigError) return EXIT.config;
  if (err instanceof DependencyUnavailableError) return EXIT.unavailable;
  return EXIT.failure;
}
