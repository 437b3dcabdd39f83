import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

/** The repository root (libs/testing/src → ../../..). */
export const repoRoot = resolve(import.meta.dirname, '../../..');

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <args…>` from the repository root with `env` added, to completion (SIGKILL after `timeoutMs`). */
export async function runNode(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<RunResult> {
  const child = spawn(process.execPath, [...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
