export const EXECUTION_STATUSES = ['queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const FINISHED: readonly ExecutionStatus[] = ['completed', 'failed', 'timed_out', 'cancelled'];

/** Why an execution did not complete, in plain words; never a secret value. */
export interface ExecutionError {
  readonly code: string;
  readonly message: string;
}

export interface ExecutionRecord {
  readonly id: string;
  readonly toolId: string;
  readonly toolVersion: number;
  readonly ownerId: string;
  readonly status: ExecutionStatus;
  readonly input: unknown;
  readonly output: unknown;
  readonly stderr: string;
  readonly error: ExecutionError | null;
  readonly truncated: boolean;
  readonly exitCode: number | null;
  readonly warnings: readonly string[];
  readonly runnerId: string | null;
  readonly cancelRequested: boolean;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly completedAt: Date | null;
  readonly durationMs: number | null;
  /** ExecuteTool's idempotency key, unique per owner. */
  readonly idempotencyKey: string | null;
  /** Set when the scheduler started it for a schedule: its progress is reported as JobResult events. */
  readonly scheduleId: string | null;
  readonly scheduleRunId: string | null;
}

/** What an executor hands back; the worker stores it (after redaction). */
export interface ExecutionResult {
  readonly status: 'completed' | 'failed' | 'timed_out' | 'cancelled';
  readonly output: unknown;
  readonly stderr: string;
  readonly error: ExecutionError | null;
  readonly truncated: boolean;
  readonly exitCode: number | null;
  readonly warnings: readonly string[];
}

export interface ToolStats {
  readonly executions: number;
  readonly completed: number;
  readonly failed: number;
  readonly timedOut: number;
  readonly cancelled: number;
  readonly p50DurationMs: number;
  readonly p95DurationMs: number;
  readonly lastExecutedAt: Date | null;
}
