import { AppError } from '@csda/errors';

/** One bad row of a legacy export: where it is and what is wrong (never its value). */
export interface LegacyIssue {
  /** e.g. `secrets line 4 (id 42)` or `secret_versions[3] (secret 42, version 2)`. */
  readonly row: string;
  readonly problem: string;
}

const SHOWN_ISSUES = 10;

/**
 * The legacy export cannot be imported. Lists every bad row found (all of them
 * in `issues`, the first few in the message). Messages name rows by index,
 * line and legacy id only: never a value, token or key.
 */
export class LegacyImportError extends AppError {
  readonly issues: readonly LegacyIssue[];

  constructor(issues: readonly LegacyIssue[]) {
    const shown = issues.slice(0, SHOWN_ISSUES).map((i) => `${i.row}: ${i.problem}`);
    const more = issues.length > SHOWN_ISSUES ? `; and ${issues.length - SHOWN_ISSUES} more` : '';
    super('VALIDATION_ERROR', `legacy export has ${issues.length} problem(s): ${shown.join('; ')}${more}`, {
      details: { problems: String(issues.length) },
    });
    this.issues = issues;
  }

  /** A problem with the whole input rather than one row. */
  static input(where: string, problem: string): LegacyImportError {
    return new LegacyImportError([{ row: where, problem }]);
  }
}

/** A problem found while reading one row; the caller adds the row's name. */
export class RowProblem extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'RowProblem';
  }
}
