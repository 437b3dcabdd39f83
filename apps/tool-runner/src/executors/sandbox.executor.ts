import { expandArgv, SandboxError, type Sandbox, type SandboxLimits, type SandboxResult } from '@csda/sandbox';
import type { ExecutionResult } from '../executions/execution.types.ts';
import { egressLines, egressWarnings, executionEgress, type EgressDeps, type ExecutionEgress } from './egress.ts';
import { failed, type Executor, type ExecutorRequest } from './executor.types.ts';

export interface SandboxExecutorDeps {
  /** undefined when no sandbox is available (then `unavailable` says why). */
  readonly sandbox: Pick<Sandbox, 'run' | 'mode'> | undefined;
  readonly unavailable?: string;
  readonly memoryBytes: number;
  readonly processes: number;
  /** network: true tools reach out only through a per-execution proxy with the api_call guard. */
  readonly egress: EgressDeps;
}

const STDERR_KEEP = 64 * 1024;
const NETWORK_SYMPTOMS = /Network is unreachable|Temporary failure in name resolution|Name or service not known|nodename nor servname|Could not resolve host|getaddrinfo|Connection refused/i;
const PROXY_ONLY = 'this tool reaches the network only through the HTTP(S) proxy in HTTP_PROXY/HTTPS_PROXY: direct connections and DNS lookups have no route';

/** stdout as the output: JSON when it parses, else the text. */
function outputOf(stdout: Buffer): unknown {
  const text = stdout.toString('utf8');
  const trimmed = text.trim();
  if (trimmed === '') return text === '' ? null : text;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}

function limitsFor(req: ExecutorRequest, deps: SandboxExecutorDeps): SandboxLimits {
  return {
    wallMs: req.tool.timeoutS * 1_000,
    cpuSeconds: req.tool.timeoutS,
    memoryBytes: deps.memoryBytes,
    processes: deps.processes,
    fileSizeBytes: 64 * 1024 * 1024,
    openFiles: 256,
    outputBytes: req.tool.maxOutputBytes,
  };
}

function resultOf(req: ExecutorRequest, r: SandboxResult, egress: ExecutionEgress | undefined): ExecutionResult {
  let stderr = r.stderr.toString('utf8');
  if (stderr.length > STDERR_KEEP) stderr = `${stderr.slice(0, STDERR_KEEP)}\n[stderr cut at ${STDERR_KEEP} characters]`;
  const warnings: string[] = [];
  const symptoms = NETWORK_SYMPTOMS.test(stderr);
  if (!req.tool.network && symptoms) warnings.push('network access is off for this tool');
  if (egress) {
    const events = egress.events();
    // Why a request failed, even when the program swallowed the proxy's answer.
    if (events.length > 0) stderr = `${stderr}${stderr === '' || stderr.endsWith('\n') ? '' : '\n'}${egressLines(events)}\n`;
    warnings.push(...egressWarnings(events));
    if (symptoms && !egress.used()) warnings.push(PROXY_ONLY);
  }
  const base = { output: outputOf(r.stdout), stderr, truncated: r.truncated, exitCode: r.exitCode, warnings };
  switch (r.outcome) {
    case 'exited':
      return r.exitCode === 0
        ? { ...base, status: 'completed', error: null }
        : { ...base, status: 'failed', error: { code: 'EXIT_CODE', message: `the program exited with code ${r.exitCode}${warnings.length ? ` (${warnings[0]})` : ''}` } };
    case 'timed_out':
      return { ...base, status: 'timed_out', error: { code: 'TIMED_OUT', message: r.reason ?? `killed after ${req.tool.timeoutS} s` } };
    case 'output_limit':
      return { ...base, status: 'failed', truncated: true, error: { code: 'OUTPUT_LIMIT', message: r.reason ?? 'output limit reached' } };
    case 'cancelled':
      return { ...base, status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled while running' } };
    default:
      return { ...base, status: 'failed', error: { code: 'KILLED', message: r.reason ?? `killed by ${r.signal ?? 'a signal'}` } };
  }
}

/** python_script and shell_command: argv only (never a shell), in the sandbox, with the tool's limits and env grants. */
export function createSandboxExecutors(deps: SandboxExecutorDeps): { python: Executor; shell: Executor } {
  async function run(req: ExecutorRequest, argv: () => string[], stdin: string | undefined): Promise<ExecutionResult> {
    if (!deps.sandbox) return failed('SANDBOX_UNAVAILABLE', `python and shell tools cannot run here: ${deps.unavailable ?? 'no sandbox is available'}`);
    let args: string[];
    try {
      args = argv();
    } catch (err) {
      if (err instanceof SandboxError) return failed('SANDBOX_REFUSED', err.message);
      throw err;
    }
    const allowHosts = (req.tool.config.allow_hosts as string[] | undefined) ?? [];
    const egress = req.tool.network ? executionEgress(deps.egress, allowHosts, req.tool.timeoutS * 1_000) : undefined;
    try {
      const result = await deps.sandbox.run({
        argv: args,
        ...(stdin !== undefined ? { stdin } : {}),
        env: { ...req.secrets.env },
        network: req.tool.network,
        ...(egress ? { egress: egress.start } : {}),
        limits: limitsFor(req, deps),
        signal: req.signal,
      });
      return resultOf(req, result, egress);
    } catch (err) {
      if (err instanceof SandboxError) return failed('SANDBOX_REFUSED', err.message);
      throw err;
    }
  }
  return {
    python: (req) => run(req, () => ['python3', '-I', '-c', String(req.tool.config.code)], JSON.stringify(req.input)),
    shell: (req) => run(req, () => expandArgv(req.tool.config.command as string[], req.input as Record<string, unknown>), undefined),
  };
}
