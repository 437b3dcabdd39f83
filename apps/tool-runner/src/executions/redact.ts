import type { ExecutionResult } from './execution.types.ts';

export const REDACTED = '[REDACTED]';

/** Replaces every occurrence of each value in a string (longest first, so a value containing another is caught whole). */
function redactText(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) if (out.includes(v)) out = out.split(v).join(REDACTED);
  return out;
}

function redactJson(value: unknown, values: readonly string[]): unknown {
  if (typeof value === 'string') return redactText(value, values);
  if (Array.isArray(value)) return value.map((v) => redactJson(v, values));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactText(k, values), redactJson(v, values)]));
  return value;
}

/**
 * Removes every granted secret value from what is stored: stdout-derived
 * output (keys and values, at any depth), stderr, the error message and the
 * warnings. A JSON output that held a value is still JSON afterwards; the
 * values themselves are never written anywhere.
 */
export function redactResult(result: ExecutionResult, secretValues: readonly string[]): ExecutionResult {
  const values = [...new Set(secretValues.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return result;
  return {
    ...result,
    output: redactJson(result.output, values),
    stderr: redactText(result.stderr, values),
    error: result.error ? { code: result.error.code, message: redactText(result.error.message, values) } : null,
    warnings: result.warnings.map((w) => redactText(w, values)),
  };
}
