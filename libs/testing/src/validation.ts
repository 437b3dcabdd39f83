import { ValidationError } from '@csda/errors';

/**
 * The details (field → problem) of the ValidationError `fn` throws; throws
 * itself when `fn` throws anything else, or nothing.
 */
export function validationDetails(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return { ...err.details };
    throw new Error(`expected a ValidationError, got ${err instanceof Error ? err.name : typeof err}`, { cause: err });
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}
