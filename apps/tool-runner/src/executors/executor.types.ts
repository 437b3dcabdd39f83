import type { ExecutionResult } from '../executions/execution.types.ts';
import type { ToolDefinition } from '../tools/tool.types.ts';

/** The granted secrets' values, where the tool receives them. Never stored, logged or returned. */
export interface RevealedSecrets {
  readonly env: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly datasource?: string;
}

export interface ExecutorRequest {
  readonly executionId: string;
  readonly toolId: string;
  /** The definition of the version the execution recorded. */
  readonly tool: ToolDefinition;
  readonly input: Readonly<Record<string, unknown>>;
  readonly secrets: RevealedSecrets;
  /** Aborted on cancel (and on shutdown). */
  readonly signal: AbortSignal;
}

export type Executor = (req: ExecutorRequest) => Promise<ExecutionResult>;

/** An execution that did not run to a result: failed with a code and plain words. */
export const failed = (code: string, message: string, extra: Partial<ExecutionResult> = {}): ExecutionResult => ({
  status: 'failed',
  output: null,
  stderr: '',
  error: { code, message },
  truncated: false,
  exitCode: null,
  warnings: [],
  ...extra,
});
